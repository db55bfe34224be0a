"""Campaign model, its constraints, the state machine and the admin pause / resume actions."""

from __future__ import annotations

import itertools
import threading
from datetime import date, time
from decimal import Decimal

import pytest
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from campaigns.models import Campaign, CampaignKind, CampaignState
from campaigns.services import (
    TRANSITIONS,
    campaign_create,
    campaign_transition,
    campaign_update,
)
from customers.models import Channel, Segment
from customers.segmentation.conditions import ConditionError, validate_conditions

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

S = CampaignState
ALLOWED = [
    (S.DRAFT, S.SCHEDULED),
    (S.SCHEDULED, S.DRAFT),
    (S.SCHEDULED, S.RUNNING),
    (S.RUNNING, S.PAUSED),
    (S.PAUSED, S.RUNNING),
    (S.RUNNING, S.COMPLETED),
    (S.PAUSED, S.COMPLETED),
]
REFUSED = [pair for pair in itertools.product(S.values, S.values) if pair not in ALLOWED]


@pytest.fixture
def segment():
    return Segment.objects.create(key="dormant", name="Dormant", conditions={})


def ready_call_campaign(**overrides) -> Campaign:
    fields = {
        "name": "Winter reactivation",
        "kind": CampaignKind.DORMANT_REACTIVATION,
        "channel": Channel.CALL,
        "product": "WATER-SERVER",
        "offer": "First month free",
        "starts_on": date(2026, 12, 1),
        "ends_on": date(2026, 12, 31),
        "disclosure_company": "Example K.K.",
        "disclosure_product": "Water server rental",
        "disclosure_purpose": "This call is to recommend our water server plan.",
        "extra_filters": {"field": "r", "op": "in", "value": [1, 2]},
    }
    fields.update(overrides)
    return campaign_create(created_by=None, **fields)


def in_state(state: str) -> Campaign:
    campaign = ready_call_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(state=state)
    campaign.refresh_from_db()
    return campaign


# --- The transition table ---------------------------------------------------------------------


def test_the_transition_table_is_exactly_the_documented_one():
    table = {(src, dst) for src, targets in TRANSITIONS.items() for dst in targets}
    assert table == set(ALLOWED)
    assert set(TRANSITIONS) == set(S.values)


def test_a_new_campaign_starts_as_a_draft_with_the_documented_defaults():
    campaign = ready_call_campaign()
    assert campaign.state == S.DRAFT
    assert campaign.holdout_percent == Decimal("10")
    assert campaign.holdout_seed is None
    assert campaign.priority == 50
    assert campaign.time_zone == "Asia/Tokyo"
    assert (campaign.window_start, campaign.window_end) == (time(9), time(20))
    assert not campaign.call_on_weekends and not campaign.call_on_holidays
    assert campaign.blocked_dates == []
    assert (campaign.retry_after_minutes, campaign.max_attempts) == (120, 5)
    assert (campaign.frequency_cap_contacts, campaign.frequency_cap_days) == (3, 14)


@pytest.mark.parametrize(("from_state", "to_state"), ALLOWED)
def test_allowed_transition_changes_the_state(from_state, to_state, admin_user):
    campaign = in_state(from_state)
    result = campaign_transition(campaign=campaign, to_state=to_state, by=admin_user)
    assert result.state == to_state
    assert Campaign.objects.get(pk=campaign.pk).state == to_state


@pytest.mark.parametrize(("from_state", "to_state"), REFUSED)
def test_refused_transition_names_from_to_and_the_allowed_targets(from_state, to_state):
    campaign = in_state(from_state)
    with pytest.raises(ValidationError) as caught:
        campaign_transition(campaign=campaign, to_state=to_state)
    error = caught.value
    assert error.code == "invalid_transition"
    message = error.messages[0]
    assert f"from {S(from_state).label} to {S(to_state).label}" in message
    allowed = [str(S(s).label) for s in S.values if s in TRANSITIONS[from_state]]
    assert message.endswith(f"it can go to: {', '.join(allowed) or 'none'}.")
    assert Campaign.objects.get(pk=campaign.pk).state == from_state


def test_an_unknown_target_state_is_refused():
    campaign = in_state(S.DRAFT)
    with pytest.raises(ValidationError, match="from Draft to archived"):
        campaign_transition(campaign=campaign, to_state="archived")


def test_a_stale_instance_is_checked_against_the_row_in_the_database():
    campaign = in_state(S.RUNNING)
    stale = Campaign.objects.get(pk=campaign.pk)
    campaign_transition(campaign=campaign, to_state=S.COMPLETED)
    with pytest.raises(ValidationError, match="from Completed to Paused"):
        campaign_transition(campaign=stale, to_state=S.PAUSED)


# --- Readiness for scheduling -----------------------------------------------------------------


def test_scheduling_a_call_campaign_lists_every_missing_item():
    campaign = campaign_create(
        created_by=None,
        name="Bare call",
        kind=CampaignKind.VIP_OFFER,
        channel=Channel.CALL,
        disclosure_company="   ",
    )
    with pytest.raises(ValidationError) as caught:
        campaign_transition(campaign=campaign, to_state=S.SCHEDULED)
    assert caught.value.code == "not_ready"
    assert caught.value.messages == [
        "The campaign cannot be scheduled; missing: start date; end date; "
        "disclosure: company name; disclosure: product or service; "
        "disclosure: purpose of the call; a target (at least one segment or extra filters)."
    ]
    assert Campaign.objects.get(pk=campaign.pk).state == S.DRAFT


def test_scheduling_an_email_campaign_lists_email_fields_and_sender_identity(segment):
    campaign = campaign_create(
        created_by=None,
        name="Birthday mail",
        kind=CampaignKind.BIRTHDAY_MONTH,
        channel=Channel.EMAIL,
        starts_on=date(2026, 1, 1),
        ends_on=date(2026, 12, 31),
        email_subject="Happy birthday",
        target_segments=[segment],
    )
    with pytest.raises(ValidationError) as caught:
        campaign_transition(campaign=campaign, to_state=S.SCHEDULED)
    assert caught.value.messages == [
        "The campaign cannot be scheduled; missing: e-mail body; sender name; "
        "sender postal address; sender contact."
    ]

    campaign_update(
        campaign=campaign,
        email_body="Double points all month.",
        sender_name="Example K.K.",
        sender_postal_address="1-1 Chiyoda, Tokyo",
        sender_contact="support@example.jp",
    )
    assert campaign_transition(campaign=campaign, to_state=S.SCHEDULED).state == S.SCHEDULED


def test_an_email_campaign_does_not_need_call_disclosures_and_vice_versa(segment):
    call = ready_call_campaign()
    assert campaign_transition(campaign=call, to_state=S.SCHEDULED).state == S.SCHEDULED


def test_a_target_segment_alone_is_enough_target(segment):
    campaign = ready_call_campaign(extra_filters={}, target_segments=[segment])
    assert campaign_transition(campaign=campaign, to_state=S.SCHEDULED).state == S.SCHEDULED


# --- Editing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [S.SCHEDULED, S.RUNNING, S.COMPLETED])
def test_update_is_refused_outside_draft_and_paused(state):
    campaign = in_state(state)
    with pytest.raises(ValidationError) as caught:
        campaign_update(campaign=campaign, offer="Two months free")
    assert caught.value.code == "not_editable"
    assert caught.value.messages == [
        f"A {S(state).label.lower()} campaign cannot be edited; only draft or paused campaigns "
        "can. Pause it first."
    ]
    assert Campaign.objects.get(pk=campaign.pk).offer == "First month free"


@pytest.mark.parametrize("state", [S.DRAFT, S.PAUSED])
def test_update_is_allowed_in_draft_and_paused(state, segment):
    campaign = in_state(state)
    updated = campaign_update(campaign=campaign, offer="Two months free", target_segments=[segment])
    assert updated.offer == "Two months free"
    assert list(updated.target_segments.all()) == [segment]


def test_update_cannot_set_the_state_directly():
    campaign = in_state(S.DRAFT)
    with pytest.raises(ValidationError, match="cannot be set here: state"):
        campaign_update(campaign=campaign, state=S.RUNNING)


def test_extra_filters_with_a_bad_field_are_refused_with_the_conditions_message():
    bad = {"all": [{"field": "nope", "op": "eq", "value": 1}]}
    with pytest.raises(ConditionError) as expected:
        validate_conditions(bad)
    with pytest.raises(ConditionError) as caught:
        ready_call_campaign(extra_filters=bad)
    assert caught.value.code == "unknown_field"
    assert caught.value.messages == expected.value.messages
    assert "unknown field “nope”" in caught.value.messages[0]
    assert not Campaign.objects.exists()

    campaign = ready_call_campaign()
    with pytest.raises(ConditionError):
        campaign_update(campaign=campaign, extra_filters=bad)


def test_create_reports_constraint_violations_as_validation_errors():
    with pytest.raises(ValidationError, match="end date cannot be before the start date"):
        ready_call_campaign(starts_on=date(2026, 12, 31), ends_on=date(2026, 12, 1))


def test_bad_time_zone_and_blocked_dates_are_refused():
    with pytest.raises(ValidationError, match="not a known time zone"):
        ready_call_campaign(time_zone="Mars/Olympus")
    with pytest.raises(ValidationError, match="not a date"):
        ready_call_campaign(blocked_dates=["2026-13-01"])
    campaign = ready_call_campaign(blocked_dates=["2026-12-31", date(2026, 12, 24)])
    assert campaign.blocked_dates == ["2026-12-24", "2026-12-31"]


# --- Database constraints ---------------------------------------------------------------------


def base_row(**overrides) -> dict:
    row = {"name": "Raw", "kind": CampaignKind.NPS_SURVEY, "channel": Channel.EMAIL}
    row.update(overrides)
    return row


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"starts_on": date(2026, 5, 2), "ends_on": date(2026, 5, 1)}, id="ends-first"),
        pytest.param({"holdout_percent": Decimal("50.1")}, id="holdout-over-50"),
        pytest.param({"holdout_percent": Decimal("-1")}, id="holdout-negative"),
        pytest.param({"window_start": time(20), "window_end": time(20)}, id="window-empty"),
        pytest.param({"window_start": time(21), "window_end": time(9)}, id="window-reversed"),
        pytest.param({"state": "archived"}, id="unknown-state"),
    ],
)
def test_database_constraints_reject_invalid_rows(overrides):
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.create(**base_row(**overrides))


def test_database_constraints_accept_boundaries():
    Campaign.objects.create(
        **base_row(
            starts_on=date(2026, 5, 1),
            ends_on=date(2026, 5, 1),
            holdout_percent=Decimal("50"),
            window_start=time(8),
            window_end=time(8, 1),
        )
    )
    Campaign.objects.create(**base_row(holdout_percent=Decimal("0")))


# --- Admin ------------------------------------------------------------------------------------


@pytest.fixture
def superuser_client(client):
    user = get_user_model().objects.create_superuser("root", "root@example.jp", "pass-1234-word")
    client.force_login(user)
    return client


def post_action(client, action: str, campaigns: list[Campaign]):
    return client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {
            "action": action,
            "_selected_action": [c.pk for c in campaigns],
            "index": 0,
        },
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )


def message_pairs(response) -> list[tuple[int, str]]:
    return [(m.level, str(m)) for m in response.context["messages"]]


def test_admin_pause_action_pauses_running_campaigns_and_reports_failures(superuser_client):
    running = in_state(S.RUNNING)
    draft = in_state(S.DRAFT)
    Campaign.objects.filter(pk=draft.pk).update(name="Draft one")

    response = post_action(superuser_client, "pause_campaigns", [running, draft])

    assert response.status_code == 200
    assert Campaign.objects.get(pk=running.pk).state == S.PAUSED
    assert Campaign.objects.get(pk=draft.pk).state == S.DRAFT
    pairs = message_pairs(response)
    assert (messages.SUCCESS, "“Winter reactivation” paused.") in pairs
    assert any(
        level == messages.ERROR and text.startswith("“Draft one”: A campaign cannot go from Draft")
        for level, text in pairs
    )


def test_admin_resume_action_resumes_paused_campaigns(superuser_client):
    paused = in_state(S.PAUSED)
    completed = in_state(S.COMPLETED)

    response = post_action(superuser_client, "resume_campaigns", [paused, completed])

    assert Campaign.objects.get(pk=paused.pk).state == S.RUNNING
    assert Campaign.objects.get(pk=completed.pk).state == S.COMPLETED
    levels = sorted(level for level, _ in message_pairs(response))
    assert levels == [messages.SUCCESS, messages.ERROR]


def test_admin_changelist_and_change_form_render(superuser_client, segment):
    campaign = ready_call_campaign(target_segments=[segment])
    changelist = superuser_client.get(
        reverse("admin:campaigns_campaign_changelist"), {"q": "WATER", "state__exact": "draft"}
    )
    assert changelist.status_code == 200
    assert "Winter reactivation" in changelist.content.decode()
    assert superuser_client.get(reverse("admin:campaigns_campaign_add")).status_code == 200
    change = superuser_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk]))
    assert change.status_code == 200


# --- Concurrency ------------------------------------------------------------------------------


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_transitions_cannot_both_pass(postgres):
    """Both threads read *scheduled*; the row lock makes the second see the first's result.

    scheduled → draft and scheduled → running exclude each other (draft ↛ running, running ↛ draft).
    """
    campaign = in_state(S.SCHEDULED)
    barrier = threading.Barrier(2)
    results: dict[str, str] = {}

    def attempt(to_state: str) -> None:
        try:
            stale = Campaign.objects.get(pk=campaign.pk)
            barrier.wait(timeout=5)
            campaign_transition(campaign=stale, to_state=to_state)
            results[to_state] = "ok"
        except ValidationError:
            results[to_state] = "refused"
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(s,)) for s in (S.DRAFT, S.RUNNING)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert sorted(results.values()) == ["ok", "refused"]
    winner = next(state for state, result in results.items() if result == "ok")
    assert Campaign.objects.get(pk=campaign.pk).state == winner


def test_an_email_campaign_with_a_broken_template_cannot_be_scheduled(segment):
    campaign = campaign_create(
        created_by=None,
        name="壊れたテンプレート",
        kind=CampaignKind.VIP_OFFER,
        channel=Channel.EMAIL,
        starts_on=date(2026, 12, 1),
        ends_on=date(2026, 12, 31),
        email_subject="ご案内",
        email_body="{% if name %}閉じていない",
        sender_name="株式会社サンプル",
        sender_postal_address="東京都千代田区1-1",
        sender_contact="03-0000-0000",
        target_segments=[segment],
    )
    with pytest.raises(ValidationError) as error:
        campaign_transition(campaign=campaign, to_state=S.SCHEDULED)
    assert "email_body" in error.value.message_dict
    campaign.refresh_from_db()
    assert campaign.state == S.DRAFT
