"""Every outreach rule at its boundary, exercised through the services that must obey it (claim,
verify, outcome logging, callbacks, launch) and, where that reads more clearly, through
``outreach.compliance`` directly. Every time is explicit; nothing depends on the real clock."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from campaigns.models import CampaignState
from customers.models import (
    Channel,
    ConsentRecord,
    Customer,
    DoNotContact,
    ProductRefusal,
    Purchase,
)
from outreach import compliance
from outreach.claiming import claim_next, claim_verify, claims_expire
from outreach.launch import campaign_launch_run, campaign_launch_start
from outreach.models import (
    CampaignMember,
    CloseReason,
    ContactAttempt,
    Lane,
    MemberStatus,
)
from outreach.outcomes import callback_schedule, contact_log
from tests.factories import (
    CampaignFactory,
    CustomerFactory,
    CustomerRfmFactory,
    SegmentFactory,
    code,
    consenting,
    refreshed,
)

pytestmark = pytest.mark.django_db

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")
OUTSIDE_WINDOW = compliance.Check.OUTSIDE_WINDOW
FREQUENCY_CAP = compliance.Check.FREQUENCY_CAP
ATTEMPTS_EXHAUSTED = compliance.Check.ATTEMPTS_EXHAUSTED


def tokyo(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO)


def new_york(*args: int) -> datetime:
    return datetime(*args, tzinfo=NEW_YORK)


def days(n: float) -> timedelta:
    return timedelta(days=n)


def campaign_on(team, **fields):
    """A running campaign ``team`` works on."""
    campaign = CampaignFactory(state=CampaignState.RUNNING, **fields)
    team.campaigns.add(campaign)
    return campaign


def member_of(campaign, customer=None, **fields) -> CampaignMember:
    fields.setdefault("due_at", tokyo(2026, 1, 1))
    return CampaignMember.objects.create(
        campaign=campaign, customer=customer or CustomerFactory(), group="treatment", **fields
    )


def new_yorker(**fields) -> Customer:
    return CustomerFactory(time_zone="America/New_York", country="US", **fields)


def email_consents(customer: Customer, now: datetime, *statuses: str) -> None:
    """E-mail consent records given through a form, one a day up to the day before ``now``,
    the last status newest; inserted newest first."""
    for age, status in enumerate(reversed(statuses)):
        ConsentRecord.objects.create(
            customer=customer,
            channel=Channel.EMAIL,
            status=status,
            source="form",
            recorded_at=now - days(age + 1),
        )


def facts_of(campaign, customer: Customer, now: datetime) -> compliance.Facts:
    row = Customer.objects.annotate(
        **compliance.facts_annotations(campaign, now=now, prefix="")
    ).get(pk=customer.pk)
    return compliance.Facts.of(row)


def window_for(campaign, customer: Customer, now: datetime) -> compliance.Window:
    return compliance.calling_window(
        campaign, time_zone=customer.time_zone, country=customer.country, now=now
    )


def past_contact(customer: Customer, at: datetime, *, campaign, counts: bool = True):
    """A contact logged earlier on ``campaign`` (the cap counts every campaign and channel)."""
    return ContactAttempt.objects.create(
        idempotency_key=f"past-{customer.pk}-{campaign.pk}-{at.isoformat()}",
        campaign=campaign,
        customer=customer,
        channel=campaign.channel,
        disposition=code("email_sent" if campaign.channel == Channel.EMAIL else "no_answer"),
        attempted_at=at,
        counts_as_attempt=counts,
    )


# --------------------------------------------------------------------------------------------
# Calling window
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("zone", "country"), [(TOKYO, "JP"), (NEW_YORK, "US")])
@pytest.mark.parametrize(
    ("clock", "is_open"),
    [((8, 59, 59), False), ((9, 0, 0), True), ((19, 59, 59), True), ((20, 0, 0), False)],
)
def test_window_edges_are_in_the_customers_own_time_zone(zone, country, clock, is_open):
    campaign = CampaignFactory(state=CampaignState.RUNNING, time_zone="Asia/Tokyo")
    customer = CustomerFactory(time_zone=zone.key, country=country)
    moment = datetime(2026, 12, 1, *clock, tzinfo=zone)  # a Tuesday, no holiday in either country

    window = window_for(campaign, customer, moment)
    verdict = compliance.evaluate(campaign, facts_of(campaign, customer, moment), now=moment)

    assert window.open is is_open and verdict.allowed is is_open
    assert window.zone == zone.key and not window.fallback
    assert window.local_time == moment and window.local_time.tzinfo == zone
    if is_open:
        assert window.opens_at is None
    else:
        # The next opening, in the customer's zone: today at 9:00 before it, tomorrow after it.
        expected = datetime(2026, 12, 1 if clock < (9, 0, 0) else 2, 9, 0, tzinfo=zone)
        assert window.opens_at == expected and window.opens_at.tzinfo == zone
        assert [(b.code, b.until, b.permanent) for b in verdict.blocks] == [
            (OUTSIDE_WINDOW, expected, False)
        ]


def test_one_instant_is_open_for_one_customer_and_closed_for_another(running_campaign, agent_x):
    in_tokyo = member_of(running_campaign, CustomerFactory(), rank=1)
    in_new_york = member_of(running_campaign, new_yorker(), rank=2)

    # 8:59:59 in New York is 22:59:59 in Tokyo: closed for both, each until their own 9:00.
    result = claim_next(agent=agent_x, now=new_york(2026, 12, 1, 8, 59, 59))
    assert result.member is None and result.skipped == {OUTSIDE_WINDOW: 2}
    assert refreshed(in_tokyo).due_at == tokyo(2026, 12, 2, 9)
    assert refreshed(in_new_york).due_at == new_york(2026, 12, 1, 9)

    # One second later New York opens; Tokyo stays closed although it ranks first.
    result = claim_next(agent=agent_x, now=new_york(2026, 12, 1, 9))
    assert result.member.pk == in_new_york.pk
    assert result.verdict.window.zone == "America/New_York" and result.verdict.window.open
    assert refreshed(in_tokyo).status == MemberStatus.QUEUED


def test_a_held_claim_is_checked_again_at_the_window_end(running_campaign, agent_x):
    member = member_of(running_campaign, new_yorker())
    assert claim_next(agent=agent_x, now=new_york(2026, 12, 1, 19)).member.pk == member.pk

    assert claim_verify(member=member, agent=agent_x, now=new_york(2026, 12, 1, 19, 59, 59)).allowed
    verdict = claim_verify(member=member, agent=agent_x, now=new_york(2026, 12, 1, 20))

    assert [(b.code, b.until) for b in verdict.blocks] == [
        (OUTSIDE_WINDOW, new_york(2026, 12, 2, 9))
    ]
    member.refresh_from_db()
    assert member.status == MemberStatus.QUEUED and member.claimed_by is None
    assert member.due_at == new_york(2026, 12, 2, 9)


@pytest.mark.parametrize("time_zone", ["", "Mars/Olympus", "Asia", "../etc/passwd", "Tokyo"])
def test_an_unknown_customer_time_zone_falls_back_to_the_campaigns_and_says_so(
    team, agent_x, time_zone
):
    campaign = campaign_on(team, time_zone="America/New_York")
    customer = CustomerFactory(time_zone=time_zone, country="US")

    window = window_for(campaign, customer, new_york(2026, 12, 1, 8, 59, 59))
    assert not window.open and window.fallback and window.zone == "America/New_York"
    assert window.opens_at == new_york(2026, 12, 1, 9)

    member = member_of(campaign, customer)
    # 11:00 in Tokyo is 21:00 the day before in New York: closed in the campaign's zone.
    assert claim_next(agent=agent_x, now=tokyo(2026, 12, 1, 11)).member is None
    assert refreshed(member).due_at == new_york(2026, 12, 1, 9)
    result = claim_next(agent=agent_x, now=new_york(2026, 12, 1, 9))
    assert result.member.pk == member.pk
    assert result.verdict.window.fallback and result.verdict.window.zone == "America/New_York"


@pytest.mark.parametrize(
    ("holiday", "next_opening"),
    [
        (date(2026, 11, 23), tokyo(2026, 11, 24, 9)),  # 勤労感謝の日, a Monday
        (date(2027, 1, 1), tokyo(2027, 1, 4, 9)),  # 元日, a Friday; then a weekend
    ],
)
def test_a_japanese_public_holiday_is_closed_unless_the_campaign_calls_on_holidays(
    holiday, next_opening
):
    campaign = CampaignFactory(state=CampaignState.RUNNING)
    customer = CustomerFactory()
    moment = datetime.combine(holiday, time(11), tzinfo=TOKYO)
    assert compliance.holiday_name(holiday, "JP")

    window = window_for(campaign, customer, moment)
    assert not window.open and holiday.isoformat() in window.reason
    assert window.opens_at == next_opening

    campaign.call_on_holidays = True
    assert window_for(campaign, customer, moment).open


def test_a_holiday_is_judged_by_the_customers_country_and_local_date(team, agent_x):
    campaign = campaign_on(team)
    in_japan = member_of(campaign, CustomerFactory(), rank=1)
    in_us = member_of(campaign, new_yorker(), rank=2)

    # 2026-11-23 10:00 in New York: 勤労感謝の日 is no holiday there (and 0:00 the 24th in Tokyo).
    assert window_for(campaign, in_us.customer, new_york(2026, 11, 23, 10)).open
    # Thanksgiving closes the day for the US customer only.
    thanksgiving = window_for(campaign, in_us.customer, new_york(2026, 11, 26, 10))
    assert not thanksgiving.open and thanksgiving.opens_at == new_york(2026, 11, 27, 9)
    assert window_for(campaign, in_japan.customer, tokyo(2026, 11, 26, 10)).open

    # Through the claim: the Japanese customer waits for the next working day.
    result = claim_next(agent=agent_x, now=tokyo(2026, 11, 23, 11))
    assert result.member is None
    assert refreshed(in_japan).due_at == tokyo(2026, 11, 24, 9)


def test_a_holiday_member_is_served_when_the_campaign_calls_on_holidays(team, agent_x):
    campaign = campaign_on(team, call_on_holidays=True)
    member = member_of(campaign)
    assert claim_next(agent=agent_x, now=tokyo(2026, 11, 23, 11)).member.pk == member.pk


@pytest.mark.parametrize("weekend_day", [date(2026, 12, 5), date(2026, 12, 6)])
def test_weekends_are_closed_unless_the_campaign_calls_on_weekends(weekend_day):
    campaign = CampaignFactory(state=CampaignState.RUNNING)
    customer = CustomerFactory()
    moment = datetime.combine(weekend_day, time(11), tzinfo=TOKYO)

    window = window_for(campaign, customer, moment)
    assert not window.open and window.opens_at == tokyo(2026, 12, 7, 9)  # Monday

    campaign.call_on_weekends = True
    assert window_for(campaign, customer, moment).open
    # Friday 20:00 with weekend calls on: the next opening is Saturday 9:00.
    assert window_for(campaign, customer, tokyo(2026, 12, 4, 20)).opens_at == tokyo(2026, 12, 5, 9)


def test_a_blocked_date_is_closed_on_the_customers_local_date():
    campaign = CampaignFactory(state=CampaignState.RUNNING, blocked_dates=["2026-12-02"])
    in_japan = CustomerFactory()
    in_us = new_yorker()

    assert window_for(campaign, in_japan, tokyo(2026, 12, 1, 19, 59, 59)).open
    for moment in (tokyo(2026, 12, 2, 0), tokyo(2026, 12, 2, 9), tokyo(2026, 12, 2, 19)):
        window = window_for(campaign, in_japan, moment)
        assert not window.open and "2026-12-02" in window.reason
        assert window.opens_at == tokyo(2026, 12, 3, 9)

    # 9:00 on the 2nd in Tokyo is still the 1st in New York: open there.
    assert window_for(campaign, in_us, tokyo(2026, 12, 2, 9)).open
    blocked = window_for(campaign, in_us, new_york(2026, 12, 2, 10))
    assert not blocked.open and blocked.opens_at == new_york(2026, 12, 3, 9)


def test_before_the_campaign_starts_the_member_waits_for_the_first_day(team, agent_x):
    campaign = campaign_on(team, starts_on=date(2026, 12, 3))
    member = member_of(campaign)

    result = claim_next(agent=agent_x, now=tokyo(2026, 12, 2, 19))
    assert result.member is None and result.skipped == {OUTSIDE_WINDOW: 1}
    assert refreshed(member).due_at == tokyo(2026, 12, 3, 9)
    assert claim_next(agent=agent_x, now=tokyo(2026, 12, 3, 9)).member.pk == member.pk


def test_after_the_campaign_ends_the_member_leaves_with_campaign_ended(team, agent_x, agent_y):
    campaign = campaign_on(team, ends_on=date(2026, 12, 1))
    last_call = member_of(campaign, rank=1)
    too_late = member_of(campaign, rank=2)

    assert claim_next(agent=agent_x, now=tokyo(2026, 12, 1, 19, 59, 59)).member.pk == last_call.pk
    result = claim_next(agent=agent_y, now=tokyo(2026, 12, 1, 20))

    assert result.member is None
    too_late.refresh_from_db()
    assert too_late.status == MemberStatus.EXCLUDED
    assert too_late.close_reason == CloseReason.CAMPAIGN_ENDED
    after = window_for(campaign, too_late.customer, tokyo(2026, 12, 2, 10))
    assert not after.open and after.opens_at is None


# --------------------------------------------------------------------------------------------
# Frequency cap (N = 3 contacts in D = 14 days, every campaign and channel)
# --------------------------------------------------------------------------------------------

CAP_NOW = tokyo(2026, 12, 1, 11)
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("ages", "blocked_until"),
    [
        pytest.param([days(1), days(2)], None, id="N-1 allowed"),
        pytest.param([days(1), days(2), days(13)], CAP_NOW + days(1), id="N blocked"),
        pytest.param(
            [days(1), days(2), days(14) - SECOND], CAP_NOW + SECOND, id="oldest just inside"
        ),
        pytest.param([days(1), days(2), days(14)], None, id="oldest exactly D days old"),
        pytest.param([days(1), days(2), days(14) + SECOND], None, id="oldest just outside"),
        # Four contacts: the count only drops below three when the third newest leaves.
        pytest.param([days(1), days(2), days(3), days(4)], CAP_NOW + days(11), id="N+1 blocked"),
    ],
)
def test_frequency_cap_counts_every_campaign_and_channel_in_the_last_d_days(ages, blocked_until):
    campaign = CampaignFactory(
        state=CampaignState.RUNNING, frequency_cap_contacts=3, frequency_cap_days=14
    )
    elsewhere = [
        CampaignFactory(state=CampaignState.RUNNING, product="OTHER"),
        CampaignFactory(state=CampaignState.RUNNING, product="OTHER", channel=Channel.EMAIL),
    ]
    customer = CustomerFactory()
    for i, age in enumerate(ages):
        past_contact(customer, CAP_NOW - age, campaign=elsewhere[i % 2])

    facts = facts_of(campaign, customer, CAP_NOW)
    verdict = compliance.evaluate(campaign, facts, now=CAP_NOW)

    caps = [b for b in verdict.blocks if b.code == FREQUENCY_CAP]
    if blocked_until is None:
        assert verdict.allowed
    else:
        assert [(b.until, b.permanent) for b in caps] == [(blocked_until, False)]
        assert verdict.retry_at == blocked_until
        # When ``until`` comes, the same rule on the same data lets the contact happen.
        later = compliance.evaluate(
            campaign, facts_of(campaign, customer, blocked_until), now=blocked_until
        )
        assert FREQUENCY_CAP not in [b.code for b in later.blocks]


def test_contacts_that_do_not_count_as_attempts_do_not_count_towards_the_cap():
    campaign = CampaignFactory(state=CampaignState.RUNNING, frequency_cap_contacts=2)
    customer = CustomerFactory()
    past_contact(customer, CAP_NOW - days(1), campaign=campaign)
    past_contact(customer, CAP_NOW - days(2), campaign=campaign, counts=False)

    assert compliance.evaluate(campaign, facts_of(campaign, customer, CAP_NOW), now=CAP_NOW).allowed


def test_a_capped_member_waits_until_the_oldest_contact_leaves_the_window(
    running_campaign, agent_x, agent_y, now
):
    running_campaign.frequency_cap_contacts = 2
    running_campaign.frequency_cap_days = 14
    running_campaign.save()
    mail = CampaignFactory(state=CampaignState.RUNNING, channel=Channel.EMAIL, product="OTHER")
    call = CampaignFactory(state=CampaignState.RUNNING, product="OTHER")
    capped = member_of(running_campaign, rank=1)
    past_contact(capped.customer, now - days(13), campaign=mail)
    past_contact(capped.customer, now - days(3), campaign=call)
    below = member_of(running_campaign, rank=2)
    past_contact(below.customer, now - days(1), campaign=mail)

    result = claim_next(agent=agent_x, now=now)

    assert result.member.pk == below.pk and result.skipped == {FREQUENCY_CAP: 1}
    assert refreshed(capped).status == MemberStatus.QUEUED
    assert capped.due_at == now + days(1)  # Wednesday 11:00, inside the window
    assert claim_next(agent=agent_y, now=now + days(1) - SECOND).member is None
    assert claim_next(agent=agent_y, now=now + days(1)).member.pk == capped.pk


# --------------------------------------------------------------------------------------------
# Refusal per product (特定商取引法 Art.17)
# --------------------------------------------------------------------------------------------


def members_on_water_and_coffee(team):
    """One customer queued on two WATER-SERVER campaigns (by product, by disclosure) and on a
    COFFEE one, in that priority order: the customer and the three members."""
    water = campaign_on(team, product="WATER-SERVER", priority=90)
    water_by_disclosure = campaign_on(
        team, product="", disclosure_product="WATER-SERVER", priority=80
    )
    coffee = campaign_on(team, product="COFFEE", priority=70)
    customer = CustomerFactory()
    return (
        customer,
        member_of(water, customer),
        member_of(water_by_disclosure, customer),
        member_of(coffee, customer),
    )


def test_a_refusal_of_product_a_blocks_campaigns_of_a_but_not_of_b(team, agent_x, now):
    customer, of_water, of_water_too, of_coffee = members_on_water_and_coffee(team)
    ProductRefusal.objects.create(customer=customer, product="WATER-SERVER", refused_at=now)

    result = claim_next(agent=agent_x, now=now)

    assert result.member.pk == of_coffee.pk
    assert result.skipped == {CloseReason.REFUSED_PRODUCT: 2}
    for member in (of_water, of_water_too):
        member.refresh_from_db()
        assert member.status == MemberStatus.EXCLUDED
        assert member.close_reason == CloseReason.REFUSED_PRODUCT


def test_a_refusal_logged_on_product_a_leaves_the_product_b_campaign_running(
    team, agent_x, agent_y, now
):
    _, of_water, of_water_too, of_coffee = members_on_water_and_coffee(team)
    water = of_water.campaign

    assert claim_next(agent=agent_x, campaign=water, now=now).member.pk == of_water.pk
    contact_log(
        member=of_water, agent=agent_x, disposition=code("refused"), idempotency_key="r", now=now
    )

    assert refreshed(of_water_too).close_reason == CloseReason.REFUSED_PRODUCT
    assert refreshed(of_coffee).status == MemberStatus.QUEUED
    assert claim_next(agent=agent_y, now=now).member.pk == of_coffee.pk


# --------------------------------------------------------------------------------------------
# Do-not-contact across channels
# --------------------------------------------------------------------------------------------


def test_a_customer_do_not_contact_blocks_call_and_email_campaigns(team, agent_x, agent_y, now):
    call = campaign_on(team)
    mail = campaign_on(team, channel=Channel.EMAIL, product="NEWSLETTER")
    customer = consenting(CustomerFactory(), now)
    by_call = member_of(call, customer)
    by_mail = member_of(mail, customer)
    assert claim_next(agent=agent_y, campaign=mail, now=now).member.pk == by_mail.pk

    DoNotContact.objects.create(scope="customer", customer=customer, reason="request")

    assert claim_next(agent=agent_x, campaign=call, now=now).member is None
    verdict = claim_verify(member=by_mail, agent=agent_y, now=now)
    assert verdict.permanent.code == CloseReason.DO_NOT_CONTACT
    for member in (by_call, by_mail):
        member.refresh_from_db()
        assert member.status == MemberStatus.EXCLUDED
        assert member.close_reason == CloseReason.DO_NOT_CONTACT


def test_a_phone_do_not_contact_blocks_only_that_number(team, agent_x, agent_y, now):
    call = campaign_on(team)
    mail = campaign_on(team, channel=Channel.EMAIL, product="NEWSLETTER")
    customer = consenting(CustomerFactory(mobile_phone="+819011112222", phone="+81355556666"), now)
    DoNotContact.objects.create(scope="phone", phone="+819011112222", reason="wrong_number")
    by_call = member_of(call, customer)
    by_mail = member_of(mail, customer)

    result = claim_next(agent=agent_x, campaign=call, now=now)
    assert result.member.pk == by_call.pk
    assert result.verdict.phone == "+81355556666"  # the mobile is on the list: the landline
    attempt = contact_log(
        member=by_call, agent=agent_x, disposition=code("no_answer"), idempotency_key="p", now=now
    )
    assert attempt.address == "+81355556666"
    assert claim_next(agent=agent_y, campaign=mail, now=now).member.pk == by_mail.pk

    # Once the landline is on the list too, no number is left for calls.
    DoNotContact.objects.create(scope="phone", phone="+81355556666", reason="wrong_number")
    result = claim_next(agent=agent_x, campaign=call, now=now + timedelta(hours=3))
    assert result.member is None
    assert refreshed(by_call).close_reason == CloseReason.PHONE_DO_NOT_CONTACT
    assert claim_verify(member=by_mail, agent=agent_y, now=now).allowed


def test_a_wrong_number_outcome_lists_the_number_that_was_dialled(running_campaign, agent_x, now):
    customer = CustomerFactory(mobile_phone="+819011112222", phone="+81355556666")
    DoNotContact.objects.create(scope="phone", phone="+819011112222", reason="wrong_number")
    member = member_of(running_campaign, customer)
    claim_next(agent=agent_x, now=now)

    contact_log(
        member=member,
        agent=agent_x,
        disposition=code("wrong_number"),
        idempotency_key="w",
        now=now,
    )

    assert DoNotContact.objects.filter(scope="phone", phone="+81355556666").exists()


def test_an_email_do_not_contact_blocks_only_email(team, agent_x, agent_y, now):
    call = campaign_on(team)
    mail = campaign_on(team, channel=Channel.EMAIL, product="NEWSLETTER")
    customer = consenting(CustomerFactory(email="taro@example.jp"), now)
    DoNotContact.objects.create(scope="email", email="taro@example.jp", reason="bounced")
    by_call = member_of(call, customer)
    by_mail = member_of(mail, customer)

    assert claim_next(agent=agent_y, campaign=mail, now=now).member is None
    assert refreshed(by_mail).close_reason == CloseReason.EMAIL_DO_NOT_CONTACT
    assert claim_next(agent=agent_x, campaign=call, now=now).member.pk == by_call.pk


# --------------------------------------------------------------------------------------------
# E-mail consent (特定電子メール法): the newest record wins
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "reason"),
    [
        pytest.param([], CloseReason.NO_EMAIL_CONSENT, id="never consented"),
        pytest.param(["granted"], None, id="consented"),
        pytest.param(["granted", "withdrawn"], CloseReason.EMAIL_OPTED_OUT, id="then opted out"),
        pytest.param(["withdrawn", "granted"], None, id="opted out, then consented again"),
        pytest.param(["granted", "withdrawn", "granted"], None, id="consented a second time"),
    ],
)
def test_email_consent_is_the_newest_record(team, agent_x, now, history, reason):
    mail = campaign_on(team, channel=Channel.EMAIL, product="NEWSLETTER")
    customer = CustomerFactory()
    # Inserted newest first: only ``recorded_at`` may decide which one is current.
    email_consents(customer, now, *history)
    # A record for calls is no e-mail consent, nor an e-mail opt-out.
    ConsentRecord.objects.create(
        customer=customer,
        channel=Channel.CALL,
        status=ConsentRecord.Status.WITHDRAWN if reason is None else ConsentRecord.Status.GRANTED,
        source="form",
        recorded_at=now,
    )
    member = member_of(mail, customer)

    result = claim_next(agent=agent_x, now=now)

    if reason is None:
        assert result.member.pk == member.pk
    else:
        assert result.member is None and result.skipped == {reason: 1}
        assert refreshed(member).close_reason == reason


# --------------------------------------------------------------------------------------------
# Callbacks
# --------------------------------------------------------------------------------------------


def _set_callback(member, agent, at, now, disposition="callback_personal"):
    assert claim_next(agent=agent, campaign=member.campaign, now=now).member.pk == member.pk
    contact_log(
        member=member,
        agent=agent,
        disposition=code(disposition),
        idempotency_key=f"cb-{member.pk}",
        callback_at=at,
        now=now,
    )
    return refreshed(member)


def test_a_due_personal_callback_for_x_is_never_served_to_y(
    running_campaign, agent_x, agent_y, now
):
    personal = member_of(running_campaign, rank=1)
    due = now + timedelta(hours=2)
    assert _set_callback(personal, agent_x, due, now).callback_agent == agent_x

    assert claim_next(agent=agent_y, now=due).member is None  # nothing else is waiting
    fresh = member_of(running_campaign, rank=2)
    assert claim_next(agent=agent_y, now=due).member.pk == fresh.pk
    assert refreshed(personal).status == MemberStatus.QUEUED and personal.due_at == due
    assert claim_next(agent=agent_x, now=due).member.pk == personal.pk


def test_a_personal_callback_abandoned_by_its_agent_stays_theirs(
    running_campaign, agent_x, agent_y, now, settings
):
    personal = member_of(running_campaign)
    due = now + timedelta(hours=2)
    _set_callback(personal, agent_x, due, now)
    assert claim_next(agent=agent_x, now=due).member.pk == personal.pk

    expired = due + timedelta(minutes=settings.OUTREACH_CLAIM_MINUTES)
    assert claims_expire(now=expired) == 1

    assert claim_next(agent=agent_y, now=expired).member is None
    assert refreshed(personal).callback_agent == agent_x
    assert claim_next(agent=agent_x, now=expired).member.pk == personal.pk


def test_an_any_agent_callback_goes_to_whoever_asks_first(running_campaign, agent_x, agent_y, now):
    shared = member_of(running_campaign, rank=1)
    due = now + timedelta(hours=2)
    assert _set_callback(shared, agent_x, due, now, "callback_any").callback_agent is None
    fresh = member_of(running_campaign, rank=2)

    assert claim_next(agent=agent_x, now=due - SECOND).member.pk == fresh.pk  # not due yet
    assert claim_next(agent=agent_y, now=due).member.pk == shared.pk


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ("do_not_contact", CloseReason.DO_NOT_CONTACT),
        ("refusal", CloseReason.REFUSED_PRODUCT),
        ("phone_dnc", CloseReason.PHONE_DO_NOT_CONTACT),
    ],
)
def test_a_callback_obeys_a_suppression_recorded_after_it_was_set(
    running_campaign, agent_x, now, record, reason
):
    member = member_of(running_campaign)
    due = now + timedelta(hours=2)
    _set_callback(member, agent_x, due, now)
    customer = member.customer
    # Recorded elsewhere (an import, another channel, a supervisor) while the callback waits.
    if record == "do_not_contact":
        DoNotContact.objects.create(scope="customer", customer=customer, reason="request")
    elif record == "refusal":
        ProductRefusal.objects.create(
            customer=customer, product=running_campaign.product, refused_at=now
        )
    else:
        DoNotContact.objects.create(scope="phone", phone=customer.phone, reason="wrong_number")

    result = claim_next(agent=agent_x, now=due)

    assert result.member is None and result.skipped == {reason: 1}
    member.refresh_from_db()
    assert member.status == MemberStatus.EXCLUDED and member.close_reason == reason
    assert member.closed_at == due


def test_a_callback_due_on_a_date_that_became_blocked_is_pushed_not_served(
    running_campaign, agent_x, agent_y, now
):
    member = member_of(running_campaign)
    due = tokyo(2026, 12, 2, 10)
    _set_callback(member, agent_x, due, now)
    running_campaign.blocked_dates = ["2026-12-02"]
    running_campaign.save()

    result = claim_next(agent=agent_x, now=due)

    assert result.member is None and result.skipped == {OUTSIDE_WINDOW: 1}
    member.refresh_from_db()
    assert member.status == MemberStatus.QUEUED and member.lane == Lane.CALLBACK
    assert member.due_at == tokyo(2026, 12, 3, 9) and member.callback_agent == agent_x
    assert claim_next(agent=agent_y, now=tokyo(2026, 12, 3, 9)).member is None
    assert claim_next(agent=agent_x, now=tokyo(2026, 12, 3, 9)).member.pk == member.pk


@pytest.mark.parametrize(
    ("at", "allowed"),
    [
        pytest.param(tokyo(2026, 12, 1, 19, 59, 59), True, id="19:59:59"),
        pytest.param(tokyo(2026, 12, 1, 20), False, id="20:00"),
        pytest.param(tokyo(2026, 12, 2, 8, 59, 59), False, id="08:59:59"),
        pytest.param(tokyo(2026, 12, 2, 9), True, id="09:00"),
        pytest.param(tokyo(2026, 12, 3, 10), False, id="blocked date"),
        pytest.param(tokyo(2026, 12, 5, 10), False, id="saturday"),
        pytest.param(tokyo(2027, 1, 1, 10), False, id="元日"),
    ],
)
def test_a_callback_can_only_be_set_inside_the_calling_window(
    running_campaign, agent_x, now, at, allowed
):
    running_campaign.blocked_dates = ["2026-12-03"]
    running_campaign.save()
    member = member_of(running_campaign)
    claim_next(agent=agent_x, now=now)

    if allowed:
        callback_schedule(member=member, agent=agent_x, at=at, now=now)
        assert refreshed(member).due_at == at and member.lane == Lane.CALLBACK
    else:
        with pytest.raises(ValidationError) as error:
            callback_schedule(member=member, agent=agent_x, at=at, now=now)
        assert "at" in error.value.message_dict
        assert refreshed(member).status == MemberStatus.CLAIMED


# --------------------------------------------------------------------------------------------
# Attempt limit
# --------------------------------------------------------------------------------------------


def test_the_attempt_limit_is_checked_again_at_claim_time(running_campaign, agent_x, now):
    used_up = member_of(running_campaign, lane=Lane.RETRY, attempts=3, rank=1)
    one_left = member_of(running_campaign, lane=Lane.RETRY, attempts=2, rank=2)
    # The limit was lowered after both were queued.
    running_campaign.max_attempts = 3
    running_campaign.save()

    result = claim_next(agent=agent_x, now=now)

    assert result.member.pk == one_left.pk and result.skipped == {ATTEMPTS_EXHAUSTED: 1}
    used_up.refresh_from_db()
    assert used_up.status == MemberStatus.DONE and used_up.close_reason == CloseReason.EXHAUSTED
    assert used_up.closed_at == now


def test_a_callback_the_customer_asked_for_is_honoured_past_the_attempt_limit(
    running_campaign, agent_x, now
):
    running_campaign.max_attempts = 2
    running_campaign.save()
    member = member_of(running_campaign, attempts=1)
    due = now + timedelta(hours=2)
    assert _set_callback(member, agent_x, due, now).attempts == 2  # the limit is reached

    result = claim_next(agent=agent_x, now=due)

    assert result.member.pk == member.pk
    assert claim_verify(member=member, agent=agent_x, now=due).allowed
    contact_log(
        member=member, agent=agent_x, disposition=code("no_answer"), idempotency_key="n", now=due
    )
    member.refresh_from_db()
    assert member.status == MemberStatus.DONE and member.close_reason == CloseReason.EXHAUSTED


# --------------------------------------------------------------------------------------------
# Launch (set-based) and evaluate (per row) agree
# --------------------------------------------------------------------------------------------


def customers_for_every_reason(now: datetime, segment=None) -> dict[str, Customer]:
    """One customer per suppression reason and per way around it, by name (scored into
    ``segment`` when given, so a launch targets them)."""

    def customer(name, **fields):
        person = CustomerFactory(name=name, **fields)
        if segment is not None:
            CustomerRfmFactory(segment=segment, customer=person)
        people[name] = person
        return person

    def consent(person, *statuses):
        email_consents(person, now, *statuses)

    people: dict[str, Customer] = {}
    granted, withdrawn = ConsentRecord.Status.GRANTED, ConsentRecord.Status.WITHDRAWN
    consent(customer("clear"), granted)
    dnc = customer("dnc")
    consent(dnc, granted)
    DoNotContact.objects.create(scope="customer", customer=dnc, reason="request")
    both = customer("dnc and refused")
    DoNotContact.objects.create(scope="customer", customer=both, reason="request")
    ProductRefusal.objects.create(customer=both, product="WATER-SERVER", refused_at=now)
    refused = customer("refused A")
    consent(refused, granted)
    ProductRefusal.objects.create(customer=refused, product="WATER-SERVER", refused_at=now)
    other = customer("refused B")
    consent(other, granted)
    ProductRefusal.objects.create(customer=other, product="COFFEE", refused_at=now)
    consent(customer("no phone", phone=None), granted)
    customer("mobile only", phone=None, mobile_phone="+819000000001")
    customer("mobile listed, landline usable", mobile_phone="+819000000002")
    DoNotContact.objects.create(scope="phone", phone="+819000000002", reason="wrong_number")
    every = customer("every number listed", mobile_phone="+819000000003")
    for number in (every.phone, every.mobile_phone):
        DoNotContact.objects.create(scope="phone", phone=number, reason="wrong_number")
    same = customer("one number twice, listed", phone="+819000000004", mobile_phone="+819000000004")
    DoNotContact.objects.create(scope="phone", phone="+819000000004", reason="wrong_number")
    consent(customer("no email", email=None), granted)
    consent(customer("empty email", email=""), granted)
    listed = customer("email listed", email="listed@example.jp")
    consent(listed, granted)
    DoNotContact.objects.create(scope="email", email="listed@example.jp", reason="bounced")
    consent(customer("opted out"), granted, withdrawn)
    consent(customer("consented again"), granted, withdrawn, granted)
    buyer = customer("buyer without consent")
    buyer_out = customer("buyer who opted out")
    consent(buyer_out, withdrawn)
    for person in (buyer, buyer_out):
        Purchase.objects.create(
            customer=person,
            line_key=f"order-{person.pk}",
            purchased_at=now - days(100),
            amount=Decimal("5000"),
        )
    assert same.phone == same.mobile_phone
    return people


@pytest.mark.parametrize("relationship_is_consent", [False, True])
def test_launch_suppression_and_evaluate_agree_on_every_reason(settings, relationship_is_consent):
    settings.OUTREACH_EMAIL_RELATIONSHIP_IS_CONSENT = relationship_is_consent
    now = tokyo(2026, 12, 1, 11)
    segment = SegmentFactory()
    people = customers_for_every_reason(now, segment)

    call = CampaignFactory(state=CampaignState.SCHEDULED, product="WATER-SERVER")
    mail = CampaignFactory(
        state=CampaignState.SCHEDULED, product="WATER-SERVER", channel=Channel.EMAIL
    )
    seen: dict[str, dict[str, str]] = {}
    for campaign in (call, mail):
        campaign.target_segments.set([segment])
        campaign_launch_start(campaign=campaign)  # its on-commit task is dropped: run it here
        campaign_launch_run(campaign_id=campaign.pk, now=now)
        campaign.refresh_from_db()
        assert campaign.state == CampaignState.RUNNING
        rows = CampaignMember.objects.filter(campaign=campaign).annotate(
            **compliance.facts_annotations(campaign, now=now)
        )
        names = {person.pk: name for name, person in people.items()}
        seen[campaign.channel] = {}
        for row in rows:
            verdict = compliance.evaluate(
                campaign, compliance.Facts.of(row), now=now, check_window=False
            )
            per_row = verdict.permanent.code if verdict.permanent else ""
            name = names[row.customer_id]
            assert row.close_reason == per_row, (campaign.channel, name)
            assert verdict.allowed is (row.status == MemberStatus.QUEUED), (campaign.channel, name)
            seen[campaign.channel][name] = row.close_reason

    assert seen[Channel.CALL] == {
        "clear": "",
        "dnc": CloseReason.DO_NOT_CONTACT,
        "dnc and refused": CloseReason.DO_NOT_CONTACT,
        "refused A": CloseReason.REFUSED_PRODUCT,
        "refused B": "",
        "no phone": CloseReason.NO_PHONE,
        "mobile only": "",
        "mobile listed, landline usable": "",
        "every number listed": CloseReason.PHONE_DO_NOT_CONTACT,
        "one number twice, listed": CloseReason.PHONE_DO_NOT_CONTACT,
        "no email": "",
        "empty email": "",
        "email listed": "",
        "opted out": "",
        "consented again": "",
        "buyer without consent": "",
        "buyer who opted out": "",
    }
    no_consent = "" if relationship_is_consent else CloseReason.NO_EMAIL_CONSENT
    assert seen[Channel.EMAIL] == {
        "clear": "",
        "dnc": CloseReason.DO_NOT_CONTACT,
        "dnc and refused": CloseReason.DO_NOT_CONTACT,
        "refused A": CloseReason.REFUSED_PRODUCT,
        "refused B": "",
        "no phone": "",
        "mobile only": CloseReason.NO_EMAIL_CONSENT,
        "mobile listed, landline usable": CloseReason.NO_EMAIL_CONSENT,
        "every number listed": CloseReason.NO_EMAIL_CONSENT,
        "one number twice, listed": CloseReason.NO_EMAIL_CONSENT,
        "no email": CloseReason.NO_EMAIL,
        "empty email": CloseReason.NO_EMAIL,
        "email listed": CloseReason.EMAIL_DO_NOT_CONTACT,
        "opted out": CloseReason.EMAIL_OPTED_OUT,
        "consented again": "",
        "buyer without consent": no_consent,
        "buyer who opted out": CloseReason.EMAIL_OPTED_OUT,
    }
    reasons = {reason for by_name in seen.values() for reason in by_name.values()} - {""}
    assert reasons == {str(rule.reason) for rule in compliance.SUPPRESSIONS}


# --------------------------------------------------------------------------------------------
# The claim's SQL facts and the annotations agree
# --------------------------------------------------------------------------------------------


def sql_facts_of(campaign, customer: Customer, now: datetime) -> compliance.Facts:
    """The facts as the claim reads them (``compliance.facts_sql``)."""
    select, params = compliance.facts_sql(campaign, now=now, customer="c")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {select} FROM {Customer._meta.db_table} c WHERE c.id = %s",
            [*params, customer.pk],
        )
        names = [column[0] for column in cursor.description]
        return compliance.facts_from_row(dict(zip(names, cursor.fetchone(), strict=True)))


@pytest.mark.parametrize("relationship_is_consent", [False, True])
def test_the_claim_sql_reads_the_same_facts_as_the_annotations(settings, relationship_is_consent):
    settings.OUTREACH_EMAIL_RELATIONSHIP_IS_CONSENT = relationship_is_consent
    now = tokyo(2026, 12, 1, 11)
    people = customers_for_every_reason(now)
    people["abroad"] = new_yorker()
    past = CampaignFactory(state=CampaignState.COMPLETED, product="OTHER")
    contacts = {  # days ago; a negative age does not count as an attempt
        "dnc": [1, 2],  # under the cap
        "refused A": [1, 5, 13],  # at the cap: the oldest caps
        "refused B": [1, 2, 3, 9],  # over it: the third newest caps
        "opted out": [1, 2, -3],  # one does not count
        "consented again": [1, 2, 20],  # one is older than the cap's days
        "buyer without consent": [1, 2, 14],  # exactly 14 days ago is outside
    }
    for name, ages in contacts.items():
        for age in ages:
            past_contact(people[name], now - days(abs(age)), campaign=past, counts=age > 0)

    capped = {"frequency_cap_contacts": 3, "frequency_cap_days": 14}
    campaigns = [
        CampaignFactory(state=CampaignState.RUNNING, **capped),
        CampaignFactory(state=CampaignState.RUNNING, channel=Channel.EMAIL, **capped),
        CampaignFactory(state=CampaignState.RUNNING, channel=Channel.EMAIL),
        CampaignFactory(state=CampaignState.RUNNING, product="", disclosure_product=""),
    ]
    assert not campaigns[-1].refusal_key
    for campaign in campaigns:
        annotated = {name: facts_of(campaign, p, now) for name, p in people.items()}
        from_sql = {name: sql_facts_of(campaign, p, now) for name, p in people.items()}
        assert from_sql == annotated, campaign

    # The data covers every fact: each one takes more than one value somewhere.
    mail = campaigns[1]
    seen = [sql_facts_of(mail, p, now) for p in people.values()]
    varied = {
        name
        for name in compliance.Facts.__dataclass_fields__
        if len({getattr(f, name) for f in seen}) > 1
    }
    assert varied == set(compliance.Facts.__dataclass_fields__) - (
        set() if relationship_is_consent else {"relationship"}
    )
    assert sql_facts_of(mail, people["refused A"], now).capping_contact_at == now - days(13)
    assert sql_facts_of(mail, people["refused B"], now).capping_contact_at == now - days(3)
    assert sql_facts_of(mail, people["buyer without consent"], now).recent_contacts == 2
