"""Contact history in segment rules: contacted, reached in person, converted by a campaign.

The expected customers are written by hand from the logged attempts; every rule is also checked
against its ``not`` (the exact complement) and against ``explain_conditions``.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import count

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone, translation

from customers.models import CustomerRfm, ProductRefusal, Segment, SegmentTransition
from customers.segmentation.conditions import (
    ConditionError,
    conditions_to_q,
    describe_conditions,
    explain_conditions,
    validate_conditions,
)
from customers.segmentation.selectors import segment_preview
from customers.services.segments import segment_save, segmentation_run
from outreach.claiming import claim_next
from outreach.models import CampaignMember, ContactAttempt, Disposition
from outreach.outcomes import contact_log
from tests.customers.helpers import TOKYO, at, error_of, everyone, leaf
from tests.factories import (
    CampaignFactory,
    CustomerFactory,
    CustomerRfmFactory,
    TeamFactory,
    agent_on,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

REF = date(2026, 6, 10)
_keys = count()


def days_before(days: int) -> date:
    return REF - timedelta(days=days)


def person(name: str) -> CustomerRfm:
    return CustomerRfmFactory(customer=CustomerFactory(name=name), reference_date=REF)


def attempt(rfm: CustomerRfm, campaign, code: str, moment: datetime) -> ContactAttempt:
    """A logged attempt with the disposition's meaning copied, as ``contact_log`` does."""
    disposition = Disposition.objects.get(code=code)
    return ContactAttempt.objects.create(
        idempotency_key=f"test-{next(_keys)}",
        campaign=campaign,
        customer_id=rfm.customer_id,
        channel=campaign.channel,
        disposition=disposition,
        attempted_at=moment,
        reached=disposition.reached,
        success=disposition.success,
        counts_as_attempt=disposition.counts_as_attempt,
    )


def selected(conditions: dict, reference_date: date = REF) -> set[str]:
    q = conditions_to_q(conditions, reference_date=reference_date)
    return set(CustomerRfm.objects.filter(q).values_list("customer__name", flat=True))


def assert_selects(conditions: dict, expected: set[str], reference_date: date = REF) -> None:
    """Exactly ``expected``; ``not`` takes exactly the others; explain agrees customer by customer."""
    assert selected(conditions, reference_date) == expected
    assert selected({"not": conditions}, reference_date) == everyone() - expected
    for rfm in CustomerRfm.objects.select_related("customer"):
        (entry,) = explain_conditions(conditions, rfm, reference_date=reference_date)
        assert entry["matched"] is (rfm.customer.name in expected), (rfm.customer.name, entry)


# --- contacted / reached ------------------------------------------------------------------------


@pytest.fixture
def history():
    """Who was tried and reached when, on two campaigns, around REF (Tokyo calendar days)."""
    summer, winter = CampaignFactory(name="夏の休眠掘り起こし"), CampaignFactory(name="冬")
    a, b, c, d, e, f = (person(name) for name in "abcdef")
    person("never")
    attempt(a, summer, "interested", at(days_before(30), 0, 0))  # reached, first moment of day 30
    attempt(b, summer, "refused", at(days_before(31), 23, 59, 59, 999_999))  # reached, day 31
    attempt(b, winter, "no_answer", at(days_before(2)))  # tried, not reached
    attempt(c, summer, "success", at(REF, 23, 59, 59, 999_999))  # converted, last moment of REF
    attempt(d, winter, "success", at(days_before(90), 9, 0))  # converted, 90 days ago
    attempt(d, summer, "voicemail", at(days_before(5)))
    attempt(e, summer, "success", at(REF + timedelta(days=1), 0, 0))  # after the reference date
    attempt(f, winter, "callback_any", at(days_before(400)))  # reached long ago
    return {"summer": summer, "winter": winter}


def test_reached_in_person_within_n_days_counts_tokyo_calendar_days(history):
    assert_selects(leaf("reached", "is_true", within_days=30), {"a", "c"})
    assert_selects(leaf("reached", "is_true", within_days=31), {"a", "b", "c"})
    assert_selects(leaf("reached", "is_true", within_days=0), {"c"})
    assert_selects(leaf("reached", "is_true", within_days=89), {"a", "b", "c"})
    assert_selects(leaf("reached", "is_true", within_days=90), {"a", "b", "c", "d"})
    # without a window: ever, up to the end of the reference date (e's call comes after it)
    assert_selects(leaf("reached", "is_true"), {"a", "b", "c", "d", "f"})
    assert_selects(leaf("reached", "is_true", True), {"a", "b", "c", "d", "f"})


def test_not_reached_is_the_complement(history):
    assert_selects(leaf("reached", "is_false"), {"e", "never"})
    assert_selects(leaf("reached", "is_false", within_days=30), {"b", "d", "e", "f", "never"})


def test_contacted_counts_every_attempt_reached_or_not(history):
    assert_selects(leaf("contacted", "is_true", within_days=1), {"c"})
    assert_selects(leaf("contacted", "is_true", within_days=2), {"b", "c"})  # no answer counts
    assert_selects(leaf("contacted", "is_true", within_days=5), {"b", "c", "d"})
    assert_selects(leaf("contacted", "is_false", within_days=30), {"e", "f", "never"})
    assert_selects(leaf("contacted", "is_true"), {"a", "b", "c", "d", "f"})


def test_the_reference_date_moves_the_window(history):
    later = REF + timedelta(days=1)
    assert selected(leaf("reached", "is_true", within_days=0), later) == {"e"}
    assert selected(leaf("reached", "is_true", within_days=30), later) == {"c", "e"}
    assert selected(leaf("reached", "is_true", within_days=31), later) == {"a", "c", "e"}


def test_flags_are_those_copied_when_logged(history):
    """Editing the catalogue afterwards does not rewrite history."""
    Disposition.objects.filter(code="no_answer").update(reached=True)
    assert selected(leaf("reached", "is_true", within_days=2)) == {"c"}


# --- converted by a campaign --------------------------------------------------------------------


def test_converted_by_campaign(history):
    summer, winter = history["summer"].pk, history["winter"].pk
    assert_selects(leaf("converted_by_campaign", "eq", summer), {"c"})  # e converted after REF
    assert_selects(leaf("converted_by_campaign", "eq", winter), {"d"})
    assert_selects(leaf("converted_by_campaign", "any_of", [summer, winter]), {"c", "d"})
    assert_selects(leaf("converted_by_campaign", "eq", winter, within_days=89), set())
    assert_selects(leaf("converted_by_campaign", "eq", winter, within_days=90), {"d"})
    assert_selects(leaf("converted_by_campaign", "is_true", within_days=0), {"c"})
    assert_selects(leaf("converted_by_campaign", "is_true"), {"c", "d"})
    assert selected(leaf("converted_by_campaign", "eq", summer), REF + timedelta(days=1)) == {
        "c",
        "e",
    }
    # a reached attempt on the campaign is not a conversion
    assert_selects(leaf("converted_by_campaign", "eq", summer, within_days=400), {"c"})


def test_a_campaign_deleted_after_saving_matches_nobody_and_stops_nothing(history):
    winter = history["winter"]
    winter_id = winter.pk
    rule = {"all": [leaf("converted_by_campaign", "eq", winter_id)]}
    validate_conditions(rule)
    winter.delete()
    assert selected(rule) == set()
    assert describe_conditions(rule) == f"Converted by campaign #{winter_id} (deleted)"
    with pytest.raises(ConditionError):
        validate_conditions(rule)  # but it cannot be saved again as it is


def test_combined_with_other_conditions(history):
    summer = history["summer"].pk
    rule = {
        "all": [
            leaf("reached", "is_true", within_days=90),
            {"not": leaf("converted_by_campaign", "eq", summer)},
            leaf("r", "eq", 2),
        ]
    }
    assert selected(rule) == {"a", "b", "d"}


# --- refusals: covered by product_refused ---------------------------------------------------------


def test_refused_any_product_within_n_days():
    a, b = person("a"), person("b")
    person("none")
    ProductRefusal.objects.create(
        customer_id=a.customer_id, product="SKU-1", refused_at=at(days_before(30), 0, 0)
    )
    ProductRefusal.objects.create(
        customer_id=b.customer_id, product="SKU-2", refused_at=at(days_before(31), 23, 59)
    )
    assert_selects(leaf("product_refused", "is_true", within_days=30), {"a"})
    assert_selects(leaf("product_refused", "is_true", within_days=31), {"a", "b"})
    assert describe_conditions(leaf("product_refused", "is_true", within_days=30)) == (
        "Refused any product within 30 days"
    )
    assert describe_conditions(leaf("product_refused", "any_of", ["SKU-1"], within_days=7)) == (
        "Refused product SKU-1 within 7 days"
    )


# --- explain and describe ---------------------------------------------------------------------


def test_explain_shows_the_latest_date_inside_the_window_or_not(history):
    b = CustomerRfm.objects.get(customer__name="b")
    summer = history["summer"].pk
    rule = {
        "all": [
            leaf("reached", "is_true", within_days=30),
            leaf("contacted", "is_true", within_days=30),
            leaf("converted_by_campaign", "eq", summer),
        ]
    }
    entries = explain_conditions(rule, b, reference_date=REF)
    assert [e["actual"] for e in entries] == [days_before(31), days_before(2), None]
    assert [e["matched"] for e in entries] == [False, True, False]
    assert [e["label"] for e in entries] == [
        "Reached in person within 30 days",
        "Contacted within 30 days",
        f"Converted by campaign #{summer} 夏の休眠掘り起こし",
    ]
    e = CustomerRfm.objects.get(customer__name="e")  # converted the day after REF: not seen
    assert (
        explain_conditions(leaf("reached", "is_true"), e, reference_date=REF)[0]["actual"] is None
    )


def test_describe(history):
    summer, winter = history["summer"].pk, history["winter"].pk
    cases = [
        (leaf("reached", "is_true"), "Reached in person"),
        (leaf("reached", "is_false"), "Never reached in person"),
        (leaf("reached", "is_false", within_days=60), "Not reached in person within 60 days"),
        (leaf("contacted", "is_true", within_days=7), "Contacted within 7 days"),
        (leaf("contacted", "is_false"), "Not contacted"),
        (leaf("converted_by_campaign", "is_true"), "Converted by any campaign"),
        (
            leaf("converted_by_campaign", "eq", winter, within_days=90),
            f"Converted by campaign #{winter} 冬 within 90 days",
        ),
        (
            leaf("converted_by_campaign", "any_of", [summer, winter]),
            f"Converted by any of campaigns #{summer} 夏の休眠掘り起こし, #{winter} 冬",
        ),
        (
            {"not": leaf("contacted", "is_true", within_days=30)},
            "not Contacted within 30 days",
        ),
    ]
    for conditions, text in cases:
        assert describe_conditions(conditions) == text
    with translation.override("ja"):
        for conditions, _text in cases:
            assert "\n" not in describe_conditions(conditions)


# --- refusals with specific messages ----------------------------------------------------------


@pytest.mark.parametrize(
    ("conditions", "path", "fragments"),
    [
        (
            {"all": [leaf("converted_by_campaign", "eq", 999_999)]},
            "all[0]",
            ["“converted_by_campaign”", "campaign 999999", "does not exist"],
        ),
        (
            leaf("converted_by_campaign", "eq", "12"),
            "(top level)",
            ['"12"', "not a whole number", "campaign ids"],
        ),
        (leaf("converted_by_campaign", "eq", 0), "(top level)", ["0", "out of range"]),
        (leaf("converted_by_campaign", "eq", True), "(top level)", ["true", "not a whole number"]),
        (leaf("converted_by_campaign", "in", [1]), "(top level)", ["“in”", "eq, any_of, is_true"]),
        (leaf("converted_by_campaign", "any_of", []), "(top level)", ["1 to 100", "got 0"]),
        (leaf("converted_by_campaign", "eq"), "(top level)", ["needs a “value”"]),
        (leaf("reached", "is_true", False), "(top level)", ["takes no value", "false"]),
        (leaf("reached", "eq", True), "(top level)", ["“eq”", "is_true, is_false"]),
        (
            leaf("reached", "is_true", within_days=-1),
            "(top level)",
            ["reached.within_days", "-1", "out of range"],
        ),
        (
            leaf("contacted", "is_true", within_days="30"),
            "(top level)",
            ["contacted.within_days", '"30"', "not a whole number"],
        ),
        (leaf("contacted", "is_true", campaign=1), "(top level)", ["“campaign”", "within_days"]),
    ],
)
def test_wrong_contact_history_conditions_are_refused(conditions, path, fragments):
    error = error_of(conditions)
    message = error.messages[0]
    assert message.startswith(f"{path}: "), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_the_missing_campaign_of_a_list_is_named_with_its_path():
    campaign = CampaignFactory()
    rule = {
        "any": [leaf("r", "eq", 5), leaf("converted_by_campaign", "any_of", [campaign.pk, 424242])]
    }
    error = error_of(rule)
    assert error.code == "does_not_exist"
    assert error.path == "any[1]"
    assert error.messages[0].startswith("any[1]: “converted_by_campaign” names campaign 424242")
    with translation.override("ja"):
        assert "424242" in error.messages[0]
    with translation.override("ja"):
        assert "424242" in error.messages[0]


def test_saving_and_previewing_refuse_a_missing_campaign_and_take_an_existing_one():
    rule = leaf("converted_by_campaign", "eq", 777_777)
    with pytest.raises(ConditionError, match="campaign 777777"):
        segment_save(key="converted-x", name="Converted X", conditions=rule, position=1)
    with pytest.raises(ConditionError, match="campaign 777777"):
        segment_preview(conditions=rule)
    campaign = CampaignFactory()
    rule["value"] = campaign.pk
    saved = segment_save(key="converted-x", name="Converted X", conditions=rule, position=1)
    assert saved.conditions == rule
    assert segment_preview(conditions=rule)["matches"] == 0


def test_editor_lists_the_contact_history_fields(supervisor_client):
    page = supervisor_client.get(reverse("customers:segment-create")).content.decode()
    for name in ("contacted", "reached", "converted_by_campaign"):
        assert f"<code>{name}</code>" in page
    assert "/campaigns/12/" in page


# --- logging an outcome re-segments the customer, cause "outcome" --------------------------------


WORKING_HOURS = datetime(2026, 12, 1, 11, 0, tzinfo=TOKYO)  # a Tuesday inside the call window


def test_logged_conversion_moves_the_customer_with_cause_outcome(
    django_capture_on_commit_callbacks,
):
    with time_machine.travel(WORKING_HOURS, tick=False):
        campaign = CampaignFactory(state="running")
        team = TeamFactory()
        team.campaigns.add(campaign)
        agent = agent_on(team)
        Segment.objects.update(is_active=False)
        converted = segment_save(
            key="converted-summer",
            name="Converted by the summer campaign",
            conditions=leaf("converted_by_campaign", "eq", campaign.pk, within_days=30),
            position=1,
        )
        others = segment_save(key="others", name="Others", conditions={}, position=2)
        customer = CustomerFactory()
        bystander = CustomerFactory()
        segmentation_run(cause="nightly")
        assert set(CustomerRfm.objects.values_list("customer_id", "segment_id")) == {
            (customer.pk, others.pk),
            (bystander.pk, others.pk),
        }
        member = CampaignMember.objects.create(
            campaign=campaign,
            customer=customer,
            group="treatment",
            due_at=WORKING_HOURS - timedelta(days=1),
        )
        assert claim_next(agent=agent, now=WORKING_HOURS).member.pk == member.pk

        with django_capture_on_commit_callbacks(execute=True):
            contact_log(
                member=member,
                agent=agent,
                disposition=Disposition.objects.get(code="success"),
                idempotency_key="conversion-1",
                disclosure_given=True,
                now=WORKING_HOURS,
            )

    rfm = CustomerRfm.objects.get(customer=customer)
    assert rfm.segment_id == converted.pk
    moves = SegmentTransition.objects.filter(run__cause="outcome")
    assert list(moves.values_list("customer_id", "from_segment_id", "to_segment_id", "cause")) == [
        (customer.pk, others.pk, converted.pk, "outcome")
    ]
    assert CustomerRfm.objects.get(customer=bystander).segment_id == others.pk
    assert timezone.localdate(moves.get().created_at) == WORKING_HOURS.date()
