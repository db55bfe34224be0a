"""The card's segment: stored RFM scores and the segment's rule checked for the customer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from customers.models import Customer, CustomerRfm


@dataclass(frozen=True)
class ExplainCheck:
    """One condition of the segment's rule: what it asks, the customer's value, matched or not."""

    label: str
    actual: str
    matched: bool


@dataclass(frozen=True)
class SegmentSummary:
    """The customer's stored RFM scores and segment, and why (the segment's rule checked)."""

    segment_id: int | None  # None: scored, but no active rule took the customer
    segment_key: str
    segment_name: str  # in the active language
    color: str
    lifecycle: str
    lifecycle_label: str
    in_segment_since: datetime | None
    r: int | None
    f: int | None
    m: int | None
    recency_days: int | None
    frequency: int  # orders in the RFM look-back window
    monetary: Decimal  # amount in the window
    reference_date: date
    method_label: str
    edges: dict[str, list[str]]  # readable score edges per dimension ("R5: ≤ 30 days", …)
    rule: str  # the segment's rule in words
    checks: tuple[ExplainCheck, ...]
    why: str  # one line for the card, e.g. "Champions: R in 4–5 (5) ✓, F ≥ 4 (6) ✓"


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(str(item) for item in value) or "—"
    if isinstance(value, Decimal):
        return f"{value.normalize():,f}" if value == value.to_integral() else f"{value:,}"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)


def segment_summary(customer: Customer) -> SegmentSummary | None:
    """RFM scores, segment and why, from the stored scoring; None if never scored.

    Explains the stored segment's rule only (one query for the rule's checks, plus one per
    contact-history condition); the full "every rule tried" explanation is
    ``customers.segmentation.selectors.customer_explain``.
    """
    from customers.segmentation.conditions import describe_conditions, explain_conditions
    from customers.segmentation.display import edge_labels, method_label

    rfm = (
        CustomerRfm.objects.select_related("segment", "run").filter(customer_id=customer.pk).first()
    )
    if rfm is None:
        return None
    rfm.customer = customer  # the condition readers look at it; no second query
    segment = rfm.segment
    parameters = rfm.run.parameters if rfm.run else {}
    checks: tuple[ExplainCheck, ...] = ()
    rule = ""
    if segment is not None:
        try:
            rule = describe_conditions(segment.conditions)
            checks = tuple(
                ExplainCheck(label=c["label"], actual=_shown(c["actual"]), matched=c["matched"])
                for c in explain_conditions(
                    segment.conditions, rfm, reference_date=rfm.reference_date
                )
            )
        except ValidationError:  # a rule saved before validation got stricter: show no reasons
            checks = ()
        reasons = (
            ", ".join(f"{c.label} ({c.actual}) {'✓' if c.matched else '✗'}" for c in checks) or rule
        )
        why = f"{segment.display_name()}: {reasons}"
    else:
        why = _("No segment rule matches R%(r)s F%(f)s M%(m)s.") % {
            "r": rfm.r or "–",
            "f": rfm.f or "–",
            "m": rfm.m or "–",
        }
    return SegmentSummary(
        segment_id=segment.pk if segment else None,
        segment_key=segment.key if segment else "",
        segment_name=segment.display_name() if segment else "",
        color=segment.color if segment else "",
        lifecycle=segment.lifecycle if segment else "",
        lifecycle_label=str(segment.get_lifecycle_display()) if segment else "",
        in_segment_since=rfm.segment_since,
        r=rfm.r,
        f=rfm.f,
        m=rfm.m,
        recency_days=rfm.recency_days,
        frequency=rfm.frequency,
        monetary=rfm.monetary,
        reference_date=rfm.reference_date,
        method_label=method_label(parameters.get("method")),
        edges=edge_labels(parameters.get("edges")),
        rule=rule,
        checks=checks,
        why=why,
    )
