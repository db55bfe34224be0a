"""An agent works the queue in a real browser: next customer, the card, the Art.16 disclosure,
a callback for tomorrow 10:00, a refusal; the refused customer never returns and the callback
comes back to the same agent when it is due."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from playwright.sync_api import expect

from campaigns.models import CampaignState
from outreach.models import AgentProfile, CampaignMember, ContactAttempt, MemberStatus
from tests.browser.conftest import log_in
from tests.factories import CampaignFactory, CustomerFactory, CustomerRfmFactory, TeamFactory

pytestmark = pytest.mark.browser
TOKYO = ZoneInfo("Asia/Tokyo")
TUESDAY_11 = datetime(2026, 12, 1, 11, 0, tzinfo=TOKYO)
WEDNESDAY_10 = datetime(2026, 12, 2, 10, 0, 30, tzinfo=TOKYO)


@pytest.fixture
def queue(transactional_db, agent):
    team = TeamFactory(name="東京")
    AgentProfile.objects.create(user=agent, team=team)
    campaign = CampaignFactory(
        state=CampaignState.RUNNING, name="休眠掘り起こし", script="ご無沙汰しております。"
    )
    team.campaigns.add(campaign)
    members = []
    for rank, (name, kana) in enumerate(
        [("青木 花子", "アオキ ハナコ"), ("井上 次郎", "イノウエ ジロウ")], start=1
    ):
        rfm = CustomerRfmFactory(
            customer=CustomerFactory(name=name, name_kana=kana, prefecture="東京都")
        )
        members.append(
            CampaignMember.objects.create(
                campaign=campaign,
                customer=rfm.customer,
                group="treatment",
                rank=rank,
                due_at=TUESDAY_11,
            )
        )
    return campaign, members


def _next(page):
    page.locator("#next-customer").click()


def test_agent_takes_customers_logs_a_callback_and_a_refusal(
    page, live_server, agent, queue, artifacts, browser
):
    campaign, (first, second) = queue
    with time_machine.travel(TUESDAY_11, tick=True) as clock:
        log_in(page, live_server, agent.username)
        expect(page).to_have_url(f"{live_server.url}/work/")

        # 1. The first customer: the card, the disclosure, a personal callback tomorrow 10:00.
        _next(page)
        expect(page.locator("#card-name")).to_contain_text("青木 花子")
        expect(page.locator("#card-kana")).to_have_text("アオキ ハナコ")
        expect(page.locator("#disclosure-text")).to_contain_text(campaign.disclosure_company)
        page.screenshot(path=artifacts / "agent-card-ja.png", full_page=True)
        for box in page.locator("#disclosure-checklist input[type=checkbox]").all():
            box.check()
        page.locator("#outcome-form textarea[name=notes]").fill("明日の午前に再度お電話")
        page.locator("body").click(position={"x": 5, "y": 5})
        page.keyboard.press("3")  # shortcut of “callback (personal)”
        expect(page.locator("input[name=disposition][value=callback_personal]")).to_be_checked()
        page.locator("input[name=callback_at]").fill("2026-12-02T10:00")
        page.locator("#outcome-submit").click()
        expect(page.locator("#logged")).to_be_visible()
        expect(page.locator("#tally-attempts")).to_have_text("1")

        # 2. The next customer refuses.
        _next(page)
        expect(page.locator("#card-name")).to_contain_text("井上 次郎")
        page.locator("body").click(position={"x": 5, "y": 5})
        page.keyboard.press("8")  # “refused”
        page.locator("#outcome-submit").click()
        expect(page.locator("#logged")).to_be_visible()

        # 3. Nothing else now: the callback is not due, the refused customer never returns.
        _next(page)
        expect(page.locator("#nothing-message")).to_be_visible()
        second.refresh_from_db()
        assert second.status == MemberStatus.EXCLUDED and second.close_reason == "refused_product"

        # 4. Tomorrow 10:00 the callback comes back to this agent.
        clock.move_to(WEDNESDAY_10)
        page.goto(f"{live_server.url}/work/")
        expect(page.locator("#my-callbacks")).to_contain_text("青木 花子")
        _next(page)
        expect(page.locator("#card-name")).to_contain_text("青木 花子")
        expect(page.locator("#card-timeline")).to_contain_text("明日の午前に再度お電話")
        first.refresh_from_db()
        assert first.status == MemberStatus.CLAIMED and first.claimed_by == agent

        # The same card in English.
        english = browser.new_context(
            viewport={"width": 1366, "height": 768}, locale="en-US", timezone_id="Asia/Tokyo"
        )
        other = english.new_page()
        log_in(other, live_server, agent.username)
        other.goto(f"{live_server.url}/work/members/{first.pk}/")
        expect(other.locator("#outcome-submit")).to_contain_text("Log outcome")
        other.screenshot(path=artifacts / "agent-card-en.png", full_page=True)
        english.close()

        page.goto(f"{live_server.url}/work/")  # the held claim stays on the work page
        expect(page.locator("#card-name")).to_contain_text("青木 花子")
        expect(page.locator("#outcome-form")).to_be_visible()
    assert ContactAttempt.objects.filter(member=second).count() == 1
    assert not CampaignMember.objects.filter(pk=second.pk, status=MemberStatus.CLAIMED).exists()
