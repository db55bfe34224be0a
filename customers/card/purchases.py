"""The card's purchase history and LTV: totals, recent lines, top categories (3 queries)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Count, Max, Min, Sum, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone

from customers.ltv import LtvResult, ltv_compute, ltv_settings
from customers.models import Customer, LtvSettings, Purchase

RECENT_ITEMS = 10
TOP_CATEGORIES = 5


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


def local_date(moment: datetime | None) -> date | None:
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
        first_purchase_on=local_date(summary.first_purchase_at),
        reference_date=reference_date or timezone.localdate(),
        settings=settings,
    )
