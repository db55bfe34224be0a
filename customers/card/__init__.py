"""Reads for the agent's customer card: purchases, LTV, cross-sell, contacts, callbacks, segment.

Every function runs a fixed number of queries whatever the customer's number of purchases or
contacts (each one a lookup on an index that starts with the customer), so the card stays fast at
millions of purchases. ``customer_card`` bundles them into one ``CustomerCard``; its fields are
the contract with the agent workspace pages.

Outreach models are imported inside the functions: ``outreach`` imports ``customers``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import TYPE_CHECKING

from django.utils import timezone

from customers.card.contacts import (
    ContactEntry,
    ContactTimeline,
    OpenCallback,
    contact_timeline,
    open_callbacks,
)
from customers.card.cross_sell import CrossSellSuggestion, cross_sell_suggestions
from customers.card.purchases import (
    CategoryTotal,
    PurchaseLine,
    PurchaseSummary,
    customer_ltv,
    local_date,
    purchase_summary,
)
from customers.card.segment import ExplainCheck, SegmentSummary, segment_summary
from customers.ltv import LtvResult, ltv_all, ltv_settings
from customers.models import Customer

if TYPE_CHECKING:
    from campaigns.models import Campaign

__all__ = [
    "CategoryTotal",
    "ContactEntry",
    "ContactTimeline",
    "CrossSellSuggestion",
    "CustomerCard",
    "ExplainCheck",
    "LtvResult",
    "OpenCallback",
    "PurchaseLine",
    "PurchaseSummary",
    "SegmentSummary",
    "age_on",
    "contact_timeline",
    "cross_sell_suggestions",
    "customer_card",
    "customer_ltv",
    "customer_zone",
    "open_callbacks",
    "purchase_summary",
    "segment_summary",
]


def customer_zone(customer: Customer, campaign: Campaign | None = None) -> tuple[tzinfo, bool]:
    """The customer's time zone and whether it is a fallback (theirs unknown or invalid).

    With a campaign the fallback is the campaign's zone, exactly as the calling window uses it
    (``outreach.compliance.customer_zone``); without, the site's ``TIME_ZONE``.
    """
    from outreach.compliance import customer_zone as zone_for

    return zone_for(customer.time_zone, campaign)


def age_on(birth_date: date | None, day: date) -> int | None:
    """Age in whole years on ``day`` (the same rule as the segment condition on age)."""
    from customers.segmentation.conditions import _age

    return _age(birth_date, day)


@dataclass(frozen=True)
class CustomerCard:
    """Everything the agent's customer card shows that is read from the database.

    Contact details are on ``customer``; masking them is the page's job (it knows the claim).
    """

    customer: Customer
    now: datetime
    local_time: datetime  # ``now`` in the customer's zone
    time_zone: str  # IANA name of that zone
    time_zone_is_fallback: bool  # the customer's own zone is unknown: campaign or site zone used
    age: int | None  # whole years at the customer's local date; None without a birth date
    segment: SegmentSummary | None  # None: never scored
    purchases: PurchaseSummary
    ltv: LtvResult  # by the chosen formula
    ltv_by_formula: tuple[LtvResult, ...]  # all three, in LtvFormula order (chosen one flagged)
    cross_sell: tuple[CrossSellSuggestion, ...]
    contacts: ContactTimeline
    callbacks: tuple[OpenCallback, ...]


def customer_card(
    customer: Customer,
    *,
    now: datetime,
    campaign: Campaign | None = None,
    contacts_limit: int = 50,
    cross_sell_limit: int = 5,
) -> CustomerCard:
    """The whole read side of the customer card in a fixed number of queries (about 9).

    ``now`` is the request time (aware); ``campaign``, when the card is opened for a claim,
    supplies the fallback time zone. LTV uses the site's local date of ``now`` as reference.
    """
    zone, fallback = customer_zone(customer, campaign)
    local_time = now.astimezone(zone)
    purchases = purchase_summary(customer)
    settings = ltv_settings()
    by_formula = ltv_all(
        orders=purchases.order_count,
        revenue=purchases.total_amount,
        first_purchase_on=local_date(purchases.first_purchase_at),
        reference_date=timezone.localdate(now),
        settings=settings,
    )
    chosen = next((r for r in by_formula if r.chosen), by_formula[0])
    return CustomerCard(
        customer=customer,
        now=now,
        local_time=local_time,
        time_zone=str(zone),
        time_zone_is_fallback=fallback,
        age=age_on(customer.birth_date, local_time.date()),
        segment=segment_summary(customer),
        purchases=purchases,
        ltv=chosen,
        ltv_by_formula=by_formula,
        cross_sell=tuple(
            cross_sell_suggestions(customer, cross_sell_limit, bought=purchases.categories)
        ),
        contacts=contact_timeline(customer, contacts_limit),
        callbacks=tuple(open_callbacks(customer)),
    )
