"""A supervisor opens a campaign's results dashboard in a real browser and sees the funnel chart,
the repurchase chart with its lift line and the lift in words."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import CampaignState
from customers.models import Purchase
from outreach.models import CampaignMember
from tests.browser.conftest import log_in
from tests.factories import CampaignFactory, CustomerFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def measured_campaign(transactional_db):
    """Launched 10 days ago: 100 treatment (30 bought again), 100 holdout (5 bought again)."""
    launched = timezone.now() - timedelta(days=10)
    campaign = CampaignFactory(
        name="休眠顧客 掘り起こし 結果", state=CampaignState.RUNNING, launched_at=launched
    )
    customers = CustomerFactory.create_batch(200)
    members = CampaignMember.objects.bulk_create(
        CampaignMember(
            campaign=campaign,
            customer=customer,
            group="treatment" if index < 100 else "holdout",
            status="queued" if index < 100 else "held_out",
            due_at=launched,
        )
        for index, customer in enumerate(customers)
    )
    buyers = members[:30] + members[100:105]
    Purchase.objects.bulk_create(
        Purchase(
            customer_id=member.customer_id,
            line_key=f"b-{member.pk}",
            purchased_at=launched + timedelta(days=1 + index % 8, hours=2),
            amount=Decimal(3000),
        )
        for index, member in enumerate(buyers)
    )
    return campaign


def test_supervisor_sees_the_results_chart_and_the_lift_line(
    page, live_server, supervisor, measured_campaign, artifacts
):
    log_in(page, live_server, supervisor.username)
    page.goto(f"{live_server.url}/campaigns/")
    page.locator("a.results-link").first.click()

    expect(page.locator("#funnel-chart")).to_be_visible()
    expect(page.locator("#repurchase-chart")).to_be_visible()
    lift_line = page.locator("#repurchase-chart-lift")
    expect(lift_line).to_have_attribute("data-series", "lift")
    assert int(lift_line.get_attribute("data-points")) >= 10
    expect(lift_line.locator("polyline")).to_have_count(1)
    # 30/100 against 5/100: +25.0 points, Newcombe 95% CI entirely above zero.
    expect(page.locator("#lift-card")).to_have_attribute("data-lift", "0.2500")
    expect(page.locator("#lift-verdict")).to_contain_text("+25.0")
    expect(page.locator("#results-freshness")).to_be_visible()
    page.screenshot(path=artifacts / "campaign-results.png", full_page=True)

    # A different window, then "refresh now": still the same chart, a new snapshot.
    page.locator("#window").select_option("7")
    expect(page).to_have_url(
        f"{live_server.url}/campaigns/{measured_campaign.pk}/results/?window=7"
    )
    expect(page.locator("#repurchase-chart-lift")).to_be_attached()
    page.locator("#refresh-results").click()
    expect(page.locator("main .flash.success")).to_be_visible()
    expect(page.locator("#repurchase-chart-lift")).to_be_attached()
