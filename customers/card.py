"""Reads for the agent's customer card: purchases, LTV, cross-sell, contacts, callbacks, segment.

Every function runs a fixed number of queries whatever the customer's number of purchases or
contacts (each one a lookup on an index that starts with the customer), so the card stays fast at
millions of purchases. ``customer_card`` bundles them into one ``CustomerCard``; its fields are
the contract with the agent workspace pages.

Outreach models are imported inside the functions: ``outreach`` imports ``customers``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db.models import Count, Max, Min, Sum, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.ltv import LtvResult, ltv_all, ltv_compute, ltv_settings
from customers.models import CategoryAffinity, Channel, Customer, CustomerRfm, LtvSettings, Purchase

if TYPE_CHECKING:
    from campaigns.models import Campaign

RECENT_ITEMS = 10
TOP_CATEGORIES = 5


# --- Purchases -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PurchaseLine:
    purchased_at: datetime
    order_id: str
    product_code: str
    product_name: str
    category: str
    quantity: int
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class CategoryTotal:
    category: str
    amount: Decimal
    lines: int
    last_purchased_at: datetime


@dataclass(frozen=True)
class PurchaseSummary:
    """A customer's purchase history at a glance (all of it, not the RFM look-back window)."""

    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    order_count: int  # distinct order ids; a line without one is an order of its own
    line_count: int
    total_amount: Decimal
    average_order_value: Decimal | None  # None without orders
    recent_items: tuple[PurchaseLine, ...]  # newest first, at most RECENT_ITEMS
    top_categories: tuple[CategoryTotal, ...]  # by amount, at most TOP_CATEGORIES
    categories: frozenset[str]  # every category ever bought (cross-sell excludes them)

    @property
    def has_purchases(self) -> bool:
        return self.line_count > 0


def _order_key() -> Coalesce:
    return Coalesce(NullIf("order_id", Value("")), "line_key")


def purchase_summary(customer: Customer) -> PurchaseSummary:
    """First/last purchase, orders, total, average order value, recent lines, top categories.

    Three queries, each on ``purchase_customer_time_idx`` (customer, purchased_at).
    """
    purchases = Purchase.objects.filter(customer_id=customer.pk)
    totals = purchases.aggregate(
        first=Min("purchased_at"),
        last=Max("purchased_at"),
        lines=Count("pk"),
        orders=Count(_order_key(), distinct=True),
        total=Sum("amount"),
    )
    recent = purchases.order_by("-purchased_at", "-pk").values_list(
        "purchased_at",
        "order_id",
        "product_code",
        "product_name",
        "category",
        "quantity",
        "amount",
        "currency",
    )[:RECENT_ITEMS]
    per_category = list(
        purchases.exclude(category="")
        .values_list("category")
        .annotate(amount=Sum("amount"), lines=Count("pk"), last=Max("purchased_at"))
        .order_by("-amount", "category")
    )
    total = totals["total"] or Decimal(0)
    orders = totals["orders"] or 0
    return PurchaseSummary(
        first_purchase_at=totals["first"],
        last_purchase_at=totals["last"],
        order_count=orders,
        line_count=totals["lines"] or 0,
        total_amount=total,
        average_order_value=(total / orders).quantize(Decimal("0.01")) if orders else None,
        recent_items=tuple(PurchaseLine(*row) for row in recent),
        top_categories=tuple(CategoryTotal(*row) for row in per_category[:TOP_CATEGORIES]),
        categories=frozenset(row[0] for row in per_category),
    )


# --- LTV -----------------------------------------------------------------------------------


def _local_date(moment: datetime | None) -> date | None:
    return timezone.localtime(moment).date() if moment is not None else None


def customer_ltv(
    customer: Customer,
    formula: str | None = None,
    *,
    reference_date: date | None = None,
    summary: PurchaseSummary | None = None,
    settings: LtvSettings | None = None,
) -> LtvResult:
    """The customer's LTV by ``formula`` (default: the one chosen in ``LtvSettings``).

    The result carries the formula's name, the inputs used and the expression, for a tooltip.
    See ``customers.ltv`` for the rules (orders, years of history, rounding). Pass ``summary``
    and ``settings`` when already read to save their queries.
    """
    settings = settings or ltv_settings()
    summary = summary or purchase_summary(customer)
    return ltv_compute(
        formula or settings.chosen_formula,
        orders=summary.order_count,
        revenue=summary.total_amount,
        first_purchase_on=_local_date(summary.first_purchase_at),
        reference_date=reference_date or timezone.localdate(),
        settings=settings,
    )


# --- Cross-sell ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CrossSellSuggestion:
    """A category the customer has not bought, and the bought category that suggests it."""

    category: str
    because_of: str  # the customer's category with the strongest pull towards ``category``
    confidence: float  # share of the customers who bought ``because_of`` who also bought it
    lift: float
    customers_both: int
    customers_because: int

    @property
    def percent(self) -> int:
        return round(self.confidence * 100)

    @property
    def explanation(self) -> str:
        return _("bought by %(percent)s%% of customers who bought %(category)s") % {
            "percent": self.percent,
            "category": self.because_of,
        }


def cross_sell_suggestions(
    customer: Customer, limit: int = 5, *, bought: Collection[str] | None = None
) -> list[CrossSellSuggestion]:
    """Categories the customer has not bought, best first by how often customers who bought one
    of the customer's categories also bought them (confidence, then lift).

    Reads the pre-aggregated ``CategoryAffinity`` (rebuilt nightly and after purchase imports):
    one query, plus one for the customer's categories unless ``bought`` is given. A customer
    without purchases gets no suggestions.
    """
    if bought is None:
        bought = set(
            Purchase.objects.filter(customer_id=customer.pk)
            .exclude(category="")
            .values_list("category", flat=True)
            .distinct()
        )
    bought = set(bought)
    if not bought or limit < 1:
        return []
    # Each candidate appears at most once per bought category, so the first limit × |bought|
    # rows, best first, hold the best row of at least ``limit`` distinct candidates.
    rows = (
        CategoryAffinity.objects.filter(category__in=bought)
        .exclude(other_category__in=bought)
        .order_by("-confidence", "-lift", "other_category", "category")
        .values_list(
            "other_category",
            "category",
            "confidence",
            "lift",
            "customers_both",
            "customers_category",
        )[: limit * len(bought)]
    )
    suggestions: dict[str, CrossSellSuggestion] = {}
    for row in rows:
        if row[0] not in suggestions:
            suggestions[row[0]] = CrossSellSuggestion(*row)
            if len(suggestions) == limit:
                break
    return list(suggestions.values())


# --- Contacts and callbacks ----------------------------------------------------------------


def _user_name(user: Any) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


@dataclass(frozen=True)
class ContactEntry:
    """One past contact attempt, as the timeline shows it."""

    attempt_id: int
    attempted_at: datetime
    campaign_id: int
    campaign_name: str
    agent_id: int | None
    agent_name: str  # "" for the mailer / a batch send
    channel: str
    channel_label: str
    disposition_code: str
    disposition_name: str  # in the active language
    reached: bool
    success: bool
    duration_seconds: int
    notes: str
    voice_category: str
    voice_category_label: str  # "" when none
    voice_text: str
    nps: int | None
    callback_at: datetime | None
    callback_scope: str


@dataclass(frozen=True)
class ContactTimeline:
    entries: tuple[ContactEntry, ...]  # newest first
    has_more: bool  # older contacts exist beyond ``limit``


def contact_timeline(customer: Customer, limit: int = 50) -> ContactTimeline:
    """Every past contact of the customer across campaigns and agents, newest first.

    One query on ``attempt_customer_time_idx`` with campaign, agent and disposition joined.
    """
    from outreach.models import ContactAttempt, VoiceCategory

    attempts = list(
        ContactAttempt.objects.filter(customer_id=customer.pk)
        .select_related("campaign", "agent", "disposition")
        .only(
            "attempted_at",
            "channel",
            "duration_seconds",
            "notes",
            "voice_category",
            "voice_text",
            "nps",
            "callback_at",
            "callback_scope",
            "reached",
            "success",
            "campaign__name",
            "agent__username",
            "agent__first_name",
            "agent__last_name",
            "disposition__code",
            "disposition__name",
            "disposition__name_ja",
        )
        .order_by("-attempted_at", "-pk")[: limit + 1]
    )
    voices = dict(VoiceCategory.choices)
    channels = dict(Channel.choices)
    entries = tuple(
        ContactEntry(
            attempt_id=a.pk,
            attempted_at=a.attempted_at,
            campaign_id=a.campaign_id,
            campaign_name=a.campaign.name,
            agent_id=a.agent_id,
            agent_name=_user_name(a.agent),
            channel=a.channel,
            channel_label=str(channels.get(a.channel, a.channel)),
            disposition_code=a.disposition.code,
            disposition_name=a.disposition.display_name(),
            reached=a.reached,
            success=a.success,
            duration_seconds=a.duration_seconds,
            notes=a.notes,
            voice_category=a.voice_category,
            voice_category_label=str(voices[a.voice_category]) if a.voice_category else "",
            voice_text=a.voice_text,
            nps=a.nps,
            callback_at=a.callback_at,
            callback_scope=a.callback_scope,
        )
        for a in attempts[:limit]
    )
    return ContactTimeline(entries=entries, has_more=len(attempts) > limit)


@dataclass(frozen=True)
class OpenCallback:
    """A waiting callback of the customer in some campaign."""

    member_id: int
    campaign_id: int
    campaign_name: str
    due_at: datetime
    personal: bool  # True: only ``agent`` takes it; False: any agent on the campaign
    agent_id: int | None
    agent_name: str


def open_callbacks(customer: Customer) -> list[OpenCallback]:
    """The customer's queued callback-lane members, soonest first, with who takes each.

    One query on ``member_customer_idx`` (customer, status).
    """
    from outreach.models import CampaignMember, Lane, MemberStatus

    members = (
        CampaignMember.objects.filter(
            customer_id=customer.pk, status=MemberStatus.QUEUED, lane=Lane.CALLBACK
        )
        .select_related("campaign", "callback_agent")
        .only(
            "due_at",
            "campaign__name",
            "callback_agent__username",
            "callback_agent__first_name",
            "callback_agent__last_name",
        )
        .order_by("due_at", "pk")
    )
    return [
        OpenCallback(
            member_id=m.pk,
            campaign_id=m.campaign_id,
            campaign_name=m.campaign.name,
            due_at=m.due_at,
            personal=m.callback_agent_id is not None,
            agent_id=m.callback_agent_id,
            agent_name=_user_name(m.callback_agent),
        )
        for m in members
    ]


# --- Segment -------------------------------------------------------------------------------


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


# --- The card ------------------------------------------------------------------------------


def customer_zone(customer: Customer, campaign: Campaign | None = None) -> tuple[tzinfo, bool]:
    """The customer's time zone and whether it is a fallback (theirs unknown or invalid).

    With a campaign the fallback is the campaign's zone, exactly as the calling window uses it
    (``outreach.compliance.customer_zone``); without, the site's ``TIME_ZONE``.
    """
    if campaign is not None:
        from outreach.compliance import customer_zone as campaign_customer_zone

        return campaign_customer_zone(customer.time_zone, campaign)
    if customer.time_zone:
        try:
            return ZoneInfo(customer.time_zone), False
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(django_settings.TIME_ZONE), True


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
        first_purchase_on=_local_date(purchases.first_purchase_at),
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
