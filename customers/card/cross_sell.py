"""Cross-sell suggestions for the card, read from the pre-aggregated category affinity."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django.utils.translation import gettext as _

from customers.models import CategoryAffinity, Customer, Purchase


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
