"""A supervisor launches a campaign, watches the launch finish and asks why a customer is (not)
in the queue, in a real browser."""

import pytest
from playwright.sync_api import expect

from campaigns.models import CampaignState
from customers.models import DoNotContact, Lifecycle
from outreach.models import CampaignMember
from tests.browser.conftest import log_in
from tests.factories import CampaignFactory, CustomerFactory, CustomerRfmFactory, SegmentFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def scheduled_campaign(transactional_db):
    segment = SegmentFactory(lifecycle=Lifecycle.DORMANT, name="Hibernating", name_ja="休眠顧客")
    for number in range(1, 6):
        CustomerRfmFactory(segment=segment, customer=CustomerFactory(external_id=f"K{number:03d}"))
    refused = CustomerRfmFactory(segment=segment, customer=CustomerFactory(external_id="K-DNC"))
    DoNotContact.objects.create(
        scope="customer", customer=refused.customer, reason="request", source="電話で申し出"
    )
    campaign = CampaignFactory(state=CampaignState.SCHEDULED, name="休眠顧客 掘り起こし")
    campaign.target_segments.set([segment])
    return campaign


def test_supervisor_launches_a_campaign_and_reads_the_eligibility_trace(
    page, live_server, supervisor, scheduled_campaign, artifacts
):
    log_in(page, live_server, supervisor.username)
    page.goto(f"{live_server.url}/campaigns/")
    page.get_by_role("link", name="休眠顧客 掘り起こし").click()
    expect(page.locator("#campaign-state")).to_have_text("予定済み")

    page.locator("#launch").click()
    expect(page.locator("#launch-progress")).to_have_attribute("data-status", "succeeded")
    expect(page.locator("#campaign-state")).to_have_text("実行中")
    expect(page.locator("#launch-targeted")).to_have_text("6")
    expect(page.locator("#launch-excluded")).to_have_text("1")
    expect(page.locator("#queue-counts")).to_be_visible()
    assert CampaignMember.objects.filter(campaign=scheduled_campaign).count() == 6
    page.screenshot(path=artifacts / "campaign-launched.png", full_page=True)

    # Why is the customer who asked not to be called not in the queue?
    page.locator("#trace-customer").fill("K-DNC")
    page.locator("#trace-customer").press("Enter")
    expect(page.locator("#trace-summary")).to_be_visible()
    expect(page.locator("#trace-steps tr[data-code=excluded]")).to_contain_text("電話で申し出")
    page.screenshot(path=artifacts / "eligibility-trace.png", full_page=True)
