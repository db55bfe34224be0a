"""Claiming the next member and logging outcomes through the services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import translation

from customers.models import DoNotContact, ProductRefusal, SegmentationRun
from outreach import claiming
from outreach.claiming import claim_next, claim_release, claim_verify, claims_expire
from outreach.models import (
    CampaignMember,
    CloseReason,
    ContactAttempt,
    Disposition,
    Lane,
    MemberStatus,
)
from outreach.outcomes import callback_schedule, contact_log
from tests.factories import CampaignFactory, CustomerFactory, code, consenting, member_of

pytestmark = pytest.mark.django_db


def test_claim_serves_the_best_ranked_member_and_is_idempotent(running_campaign, agent_x, now):
    second = member_of(running_campaign, rank=2)
    first = member_of(running_campaign, rank=1)

    result = claim_next(agent=agent_x, now=now)
    again = claim_next(agent=agent_x, now=now)

    assert result.member.pk == first.pk
    assert again.member.pk == first.pk and again.resumed
    first.refresh_from_db()
    assert first.status == MemberStatus.CLAIMED and first.claimed_by == agent_x
    second.refresh_from_db()
    assert second.status == MemberStatus.QUEUED


def test_agent_not_on_the_campaign_gets_nothing(running_campaign, now):
    from tests.factories import TeamFactory, agent_on

    outsider = agent_on(TeamFactory())
    member_of(running_campaign)
    result = claim_next(agent=outsider, now=now)
    assert result.member is None


def test_due_callbacks_come_first_and_personal_ones_only_to_their_agent(
    running_campaign, agent_x, agent_y, now
):
    member_of(running_campaign, rank=1)
    personal = member_of(
        running_campaign,
        rank=9,
        lane=Lane.CALLBACK,
        callback_agent=agent_x,
        due_at=now - timedelta(minutes=1),
    )
    assert claim_next(agent=agent_y, now=now).member.pk != personal.pk
    assert claim_next(agent=agent_x, now=now).member.pk == personal.pk


def test_a_callback_not_yet_due_waits(running_campaign, agent_x, now):
    member_of(running_campaign, lane=Lane.CALLBACK, due_at=now + timedelta(minutes=5))
    assert claim_next(agent=agent_x, now=now).member is None


def test_release_puts_the_member_back(running_campaign, agent_x, agent_y, now):
    m = member_of(running_campaign)
    claim_next(agent=agent_x, now=now)
    with pytest.raises(ValidationError):
        claim_release(member=m, agent=agent_y)
    claim_release(member=m, agent=agent_x)
    assert claim_next(agent=agent_y, now=now).member.pk == m.pk


def test_abandoned_claims_expire(running_campaign, agent_x, agent_y, now, settings):
    m = member_of(running_campaign)
    claim_next(agent=agent_x, now=now)
    assert claims_expire(now=now + timedelta(minutes=settings.OUTREACH_CLAIM_MINUTES - 1)) == 0
    assert claims_expire(now=now + timedelta(minutes=settings.OUTREACH_CLAIM_MINUTES)) == 1
    assert claim_next(agent=agent_y, now=now).member.pk == m.pk


def test_no_answer_schedules_a_retry_row(
    running_campaign, agent_x, now, django_capture_on_commit_callbacks
):
    m = member_of(running_campaign)
    claim_next(agent=agent_x, now=now)
    with django_capture_on_commit_callbacks(execute=True):
        contact_log(
            member=m, agent=agent_x, disposition=code("no_answer"), idempotency_key="k1", now=now
        )
    m.refresh_from_db()
    assert m.status == MemberStatus.QUEUED and m.lane == Lane.RETRY and m.attempts == 1
    assert m.due_at == now + timedelta(
        minutes=code("no_answer").retry_after_minutes or running_campaign.retry_after_minutes
    )
    assert SegmentationRun.objects.filter(cause="outcome").exists()


def test_double_submission_logs_once(running_campaign, agent_x, now):
    m = member_of(running_campaign)
    claim_next(agent=agent_x, now=now)
    first = contact_log(
        member=m, agent=agent_x, disposition=code("no_answer"), idempotency_key="same", now=now
    )
    second = contact_log(
        member=m, agent=agent_x, disposition=code("no_answer"), idempotency_key="same", now=now
    )
    assert first.pk == second.pk
    assert ContactAttempt.objects.count() == 1
    m.refresh_from_db()
    assert m.attempts == 1


def test_success_converts_and_closes(running_campaign, agent_x, now):
    m = member_of(running_campaign)
    claim_next(agent=agent_x, now=now)
    success = Disposition.objects.filter(success=True, is_active=True).first()
    contact_log(
        member=m,
        agent=agent_x,
        disposition=success,
        idempotency_key="s",
        disclosure_given=True,
        now=now,
    )
    m.refresh_from_db()
    assert (
        m.status == MemberStatus.DONE
        and m.close_reason == CloseReason.CONVERTED
        and m.converted_at == now
    )


def test_success_on_a_call_needs_the_disclosure(running_campaign, agent_x, now):
    m = member_of(running_campaign)
    claim_next(agent=agent_x, now=now)
    success = Disposition.objects.filter(success=True, requires_disclosure=True).first()
    with pytest.raises(ValidationError) as error:
        contact_log(member=m, agent=agent_x, disposition=success, idempotency_key="s", now=now)
    assert "disclosure_given" in error.value.message_dict
    assert not ContactAttempt.objects.exists()


def test_attempts_run_out(running_campaign, agent_x, now):
    running_campaign.max_attempts = 2
    running_campaign.save()
    m = member_of(running_campaign, attempts=1)
    claim_next(agent=agent_x, now=now)
    contact_log(
        member=m, agent=agent_x, disposition=code("no_answer"), idempotency_key="x", now=now
    )
    m.refresh_from_db()
    assert m.status == MemberStatus.DONE and m.close_reason == CloseReason.EXHAUSTED


def test_refusal_in_one_campaign_blocks_a_claim_held_in_another_of_the_same_product(
    team, running_campaign, agent_x, agent_y, now
):
    other = CampaignFactory(state="running", product=running_campaign.product)
    team.campaigns.add(other)
    customer = CustomerFactory()
    held = member_of(running_campaign, customer=customer)
    refusing = member_of(other, customer=customer)
    assert claim_next(agent=agent_x, campaign=running_campaign, now=now).member.pk == held.pk
    assert claim_next(agent=agent_y, campaign=other, now=now).member.pk == refusing.pk

    contact_log(
        member=refusing, agent=agent_y, disposition=code("refused"), idempotency_key="r", now=now
    )

    assert ProductRefusal.objects.filter(
        customer=customer, product=running_campaign.product
    ).exists()
    verdict = claim_verify(member=held, agent=agent_x, now=now)
    assert not verdict.allowed and verdict.blocks[0].code == CloseReason.REFUSED_PRODUCT
    held.refresh_from_db()
    assert held.status == MemberStatus.EXCLUDED and held.close_reason == CloseReason.REFUSED_PRODUCT
    assert claim_next(agent=agent_x, campaign=running_campaign, now=now).member is None
    with pytest.raises(ValidationError):
        contact_log(
            member=held,
            agent=agent_x,
            disposition=code("no_answer"),
            idempotency_key="late",
            now=now,
        )


def test_do_not_contact_stops_every_campaign(team, running_campaign, agent_x, now):
    email = CampaignFactory(state="running", channel="email", product="OTHER")
    customer = CustomerFactory()
    m = member_of(running_campaign, customer=customer)
    other = member_of(email, customer=customer)
    claim_next(agent=agent_x, now=now)
    contact_log(
        member=m, agent=agent_x, disposition=code("do_not_contact"), idempotency_key="d", now=now
    )
    assert DoNotContact.objects.filter(scope="customer", customer=customer).exists()
    other.refresh_from_db()
    assert (
        other.status == MemberStatus.EXCLUDED and other.close_reason == CloseReason.DO_NOT_CONTACT
    )


def test_callback_outcome_needs_a_time_inside_the_window(running_campaign, agent_x, now):
    m = member_of(running_campaign)
    claim_next(agent=agent_x, now=now)
    callback = Disposition.objects.filter(callback=True).first()
    with pytest.raises(ValidationError) as error:
        contact_log(
            member=m,
            agent=agent_x,
            disposition=callback,
            idempotency_key="c",
            callback_at=now.replace(hour=22),
            now=now,
        )
    assert "callback_at" in error.value.message_dict
    contact_log(
        member=m,
        agent=agent_x,
        disposition=callback,
        idempotency_key="c",
        callback_at=now.replace(hour=15),
        callback_personal=True,
        now=now,
    )
    m.refresh_from_db()
    assert (
        m.lane == Lane.CALLBACK and m.due_at == now.replace(hour=15) and m.callback_agent == agent_x
    )


def test_schedule_callback_on_a_held_member(running_campaign, agent_x, agent_y, now):
    m = member_of(running_campaign)
    claim_next(agent=agent_x, now=now)
    with pytest.raises(ValidationError):
        callback_schedule(member=m, agent=agent_y, at=now.replace(hour=16), now=now)
    callback_schedule(member=m, agent=agent_x, at=now.replace(hour=16), now=now)
    m.refresh_from_db()
    assert (
        m.status == MemberStatus.QUEUED and m.lane == Lane.CALLBACK and m.callback_agent == agent_x
    )


def test_a_requested_callback_is_honoured_past_the_frequency_cap(running_campaign, agent_x, now):
    running_campaign.frequency_cap_contacts = 1
    running_campaign.frequency_cap_days = 14
    running_campaign.save()
    m = member_of(running_campaign)
    claim_next(agent=agent_x, now=now)
    callback = Disposition.objects.get(code="callback_personal")
    contact_log(
        member=m,
        agent=agent_x,
        disposition=callback,
        idempotency_key="cap-cb",
        callback_at=now + timedelta(hours=2),
        now=now,
    )
    # One contact in the last 14 days = the cap; the customer asked for the call all the same.
    later = now + timedelta(hours=2)
    assert claim_next(agent=agent_x, now=later).member.pk == m.pk


def test_the_claimed_member_is_the_whole_row_with_its_campaign_and_customer(
    running_campaign, agent_x, now
):
    customer = CustomerFactory()
    member = member_of(running_campaign, customer, rank=3, attempts=1, tier=2)

    claimed = claim_next(agent=agent_x, now=now).member
    resumed = claim_next(agent=agent_x, now=now).member

    stored = CampaignMember.objects.get(pk=member.pk)
    for got in (claimed, resumed):
        assert isinstance(got, CampaignMember) and not got._state.adding
        for field in CampaignMember._meta.concrete_fields:
            assert getattr(got, field.attname) == getattr(stored, field.attname), field.name
        assert got.campaign == running_campaign and got.customer == customer
        assert got.claimed_by == agent_x and got.status == MemberStatus.CLAIMED
    claimed.refresh_from_db()  # a real instance: the ORM can read and write it as usual
    claim_release(member=claimed, agent=agent_x, now=now)
    assert CampaignMember.objects.get(pk=member.pk).status == MemberStatus.QUEUED


def test_an_agent_holding_claims_in_two_campaigns_gets_the_older_one_back(
    team, running_campaign, agent_x, now
):
    other = CampaignFactory(state=running_campaign.state, priority=running_campaign.priority + 1)
    team.campaigns.add(other)
    older = member_of(running_campaign)
    newer = member_of(other)
    assert claim_next(agent=agent_x, campaign=running_campaign, now=now).member.pk == older.pk
    later = now + timedelta(minutes=1)
    assert claim_next(agent=agent_x, campaign=other, now=later).member.pk == newer.pk

    again = claim_next(agent=agent_x, now=later)

    assert again.resumed and again.member.pk == older.pk


@pytest.fixture(params=["one statement", "step by step"])
def claim_path(request, monkeypatch):
    """Both ways a claim is made on PostgreSQL: one statement for one campaign, or the survey
    and a lock per lane (several campaigns; the only way on SQLite)."""
    if request.param == "one statement":
        if connection.vendor != "postgresql":
            pytest.skip("claims in one statement need PostgreSQL")
        # It must not fall back to the survey (which would pass these tests too) but for a
        # campaign that cannot be worked.
        original = claiming._claim_in_one

        def must_claim(campaign, *args, **kwargs):
            result = original(campaign, *args, **kwargs)
            if result is None:
                campaign.refresh_from_db()
                assert campaign.state != "running", "the one-statement claim fell back"
            return result

        monkeypatch.setattr(claiming, "_claim_in_one", must_claim)
    else:
        monkeypatch.setattr(claiming, "_claims_in_one_statement", lambda: False)
    return request.param


def test_a_claim_past_its_expiry_not_yet_returned_is_resumed_and_renewed(
    running_campaign, agent_x, now, settings, claim_path
):
    """Between a claim's expiry and the beat that returns it (up to a minute) the agent may
    ask again: they get the same member back, its claim renewed, never an error."""
    held = member_of(running_campaign, rank=1)
    member_of(running_campaign, rank=2)
    claim_next(agent=agent_x, campaign=running_campaign, now=now)
    later = now + timedelta(minutes=settings.OUTREACH_CLAIM_MINUTES + 1)

    again = claim_next(agent=agent_x, campaign=running_campaign, now=later)

    assert again.member.pk == held.pk and again.resumed
    held.refresh_from_db()
    assert held.status == MemberStatus.CLAIMED
    assert held.claim_expires_at == later + timedelta(minutes=settings.OUTREACH_CLAIM_MINUTES)
    assert held.claimed_at == now  # still the claim it was


def test_a_campaign_changed_between_claims_is_read_again(
    running_campaign, agent_x, now, claim_path
):
    """The claim reads the campaign's row again whenever it changed, even through a stale
    instance and inside one transaction: a new product's refusals apply at once, a pause
    stops claiming."""
    from campaigns.models import Campaign, CampaignState

    stale = Campaign.objects.get(pk=running_campaign.pk)
    first = member_of(running_campaign, rank=1)
    refuses_new = member_of(running_campaign, rank=2)
    ProductRefusal.objects.create(
        customer=refuses_new.customer, product="NEW-PRODUCT", refused_at=now
    )
    member_of(running_campaign, rank=3)
    assert claim_next(agent=agent_x, campaign=stale, now=now).member.pk == first.pk
    contact_log(
        member=first, agent=agent_x, disposition=code("no_answer"), idempotency_key="a", now=now
    )

    Campaign.objects.filter(pk=running_campaign.pk).update(product="NEW-PRODUCT")
    result = claim_next(agent=agent_x, campaign=stale, now=now)
    assert result.member.pk != refuses_new.pk
    assert result.skipped == {"refused_product": 1}
    refuses_new.refresh_from_db()
    assert refuses_new.status == MemberStatus.EXCLUDED
    claim_release(member=result.member, agent=agent_x)

    Campaign.objects.filter(pk=running_campaign.pk).update(state=CampaignState.PAUSED)
    assert claim_next(agent=agent_x, campaign=stale, now=now).member is None


def test_an_agent_taken_off_the_team_claims_nothing_more(running_campaign, team, agent_x, now):
    member_of(running_campaign, rank=1)
    member_of(running_campaign, rank=2)
    first = claim_next(agent=agent_x, campaign=running_campaign, now=now).member
    contact_log(
        member=first, agent=agent_x, disposition=code("no_answer"), idempotency_key="a", now=now
    )

    team.agents.filter(user=agent_x).delete()

    with translation.override("en"):
        result = claim_next(agent=agent_x, campaign=running_campaign, now=now)
    assert result.member is None
    assert "not on any running campaign" in result.message


@pytest.mark.postgres_only
@pytest.mark.parametrize("mode", ["pull", "round_robin", "owner"])
@pytest.mark.parametrize("channel", ["call", "email"])
@pytest.mark.parametrize("cap", [0, 3])
@pytest.mark.parametrize("product", ["", "WATER-SERVER"])
def test_one_campaign_is_claimed_in_one_statement_whatever_its_settings(
    postgres, team, agent_x, now, monkeypatch, mode, channel, cap, product
):
    """Every kind of campaign (lanes by assignment mode; facts by channel, frequency cap and
    refusal product) is claimed by the one statement, without the survey, and the facts it
    reads let an eligible customer through and stop a refused one."""

    campaign = CampaignFactory(
        state="running",
        assignment_mode=mode,
        channel=channel,
        frequency_cap_contacts=cap,
        product=product,
    )
    team.campaigns.add(campaign)
    owner = agent_x if mode != "pull" else None
    refused = member_of(campaign, rank=1, owner=owner)
    eligible = member_of(campaign, rank=2, owner=owner)
    for member in (refused, eligible):
        consenting(member.customer, now)
    DoNotContact.objects.create(
        scope=DoNotContact.Scope.CUSTOMER, customer=refused.customer, reason="request"
    )

    def no_survey(*args, **kwargs):
        raise AssertionError("the claim fell back to the survey")

    monkeypatch.setattr(claiming, "_campaigns_to_work", no_survey)
    first = claim_next(agent=agent_x, campaign=campaign, now=now)
    second = claim_next(agent=agent_x, campaign=campaign, now=now)

    assert first.member.pk == eligible.pk and first.skipped == {"do_not_contact": 1}
    assert second.member.pk == eligible.pk and second.resumed
    refused.refresh_from_db()
    assert refused.status == MemberStatus.EXCLUDED


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_the_same_agent_claiming_twice_at_once_gets_one_claim(
    postgres, running_campaign, agent_x, now
):
    """A double click or two tabs: the second claim waits on the first's, then hands back that
    same member as held instead of failing on the one-claim-per-agent rule."""
    import threading
    import time

    from django.db import connections, transaction

    member_of(running_campaign, rank=1)
    member_of(running_campaign, rank=2)
    results, holding, release = {}, threading.Event(), threading.Event()

    def first():
        try:
            with transaction.atomic():
                results["first"] = claim_next(agent=agent_x, campaign=running_campaign, now=now)
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    def second():
        try:
            results["second"] = claim_next(agent=agent_x, campaign=running_campaign, now=now)
        except Exception as error:  # reported below
            results["second"] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    threads[0].start()
    assert holding.wait(10)
    threads[1].start()
    with connection.cursor() as cursor:  # the second claim is waiting on the first's lock
        for _ in range(100):
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database()"
            )
            if cursor.fetchone()[0]:
                break
            time.sleep(0.05)
        else:
            pytest.fail("the second claim never waited on the first")
    release.set()
    for thread in threads:
        thread.join(10)

    assert not isinstance(results["second"], Exception), results["second"]
    assert results["second"].member.pk == results["first"].member.pk
    assert results["second"].resumed
    assert CampaignMember.objects.filter(status=MemberStatus.CLAIMED).count() == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_claims_work_without_prepared_statements_and_while_queries_are_captured(
    postgres, running_campaign, agent_x, agent_y, now, settings
):
    """Behind a transaction-pooling proxy prepared statements are switched off; under DEBUG or
    a test capturing queries the statements go through Django's cursor and are logged."""
    from django.test.utils import CaptureQueriesContext

    first = member_of(running_campaign, rank=1)
    second = member_of(running_campaign, rank=2)
    settings.OUTREACH_CLAIM_PREPARED_STATEMENTS = False
    connection.close()  # a fresh connection: nothing prepared on it yet

    assert claim_next(agent=agent_x, campaign=running_campaign, now=now).member.pk == first.pk
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone()[0] == 0

    settings.OUTREACH_CLAIM_PREPARED_STATEMENTS = True
    with CaptureQueriesContext(connection) as captured:
        result = claim_next(agent=agent_y, campaign=running_campaign, now=now)
    assert result.member.pk == second.pk
    assert any("FOR UPDATE SKIP LOCKED" in (query["sql"] or "") for query in captured)
