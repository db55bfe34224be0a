"""Customer lifetime value (顧客生涯価値) by the three formulas of DOMAIN.md ("Measures").

The formulas are pure functions of a customer's own totals and the ``LtvSettings`` parameters,
so a tooltip can show every input and the numbers can be checked by hand:

1. ``order_value``: average order value × purchases per year × years retained
   (5,000 × 12 × 3 = 180,000);
2. ``margin``: annual revenue × gross margin × years retained (60,000 × 60% × 3 = 108,000);
3. ``net``: revenue − (acquisition cost + retention cost) (60,000 − (3,000 + 1,000) = 56,000).

Rules, stated once:
- an order is a distinct order id (a line without one is an order of its own), as in RFM
  frequency; average order value = revenue ÷ orders;
- revenue is the customer's total purchase amount to date;
- "per year" divides by the customer's years of history: the days from the local date of the
  first purchase to the reference date ÷ 365, **at least 1 year** (a customer who bought last
  week is not extrapolated fifty-fold); purchases per year = orders ÷ those years, annual
  revenue = revenue ÷ those years;
- a customer without purchases has an LTV of 0 by formulas 1 and 2, and −(acquisition +
  retention cost) by formula 3;
- values are rounded to 2 decimal places (half up) at the end, never in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext as _

from customers.models import LtvFormula, LtvSettings

DAYS_PER_YEAR = 365
CENT = Decimal("0.01")


@dataclass(frozen=True)
class LtvInput:
    """One named number that went into a formula (for the explain tooltip)."""

    key: str
    label: str
    value: Decimal


@dataclass(frozen=True)
class LtvResult:
    """An LTV value, which formula produced it and from what."""

    formula: str  # an LtvFormula value
    label: str  # the formula in words, active language
    value: Decimal
    expression: str  # the numbers as multiplied, e.g. "5000.00 × 12.00 × 3.00 = 180000.00"
    inputs: tuple[LtvInput, ...]
    chosen: bool = False  # the formula the settings pick for the card

    def input(self, key: str) -> Decimal:
        return next(item.value for item in self.inputs if item.key == key)


def ltv_settings() -> LtvSettings:
    """The settings row (migration 0006 creates it); unsaved defaults if it was deleted.

    Reading the card must not write, so a missing row is not created here.
    """
    return LtvSettings.objects.order_by("pk").first() or LtvSettings()


def history_years(first_purchase_on: date | None, reference_date: date) -> Decimal:
    """Years from the first purchase to the reference date, at least 1."""
    if first_purchase_on is None:
        return Decimal(1)
    days = max((reference_date - first_purchase_on).days, 0)
    return max(Decimal(days) / DAYS_PER_YEAR, Decimal(1))


def _shown(value: Decimal) -> str:
    return f"{value.quantize(CENT, rounding=ROUND_HALF_UP):,}"


def ltv_compute(
    formula: str,
    *,
    orders: int,
    revenue: Decimal,
    first_purchase_on: date | None,
    reference_date: date,
    settings: LtvSettings,
) -> LtvResult:
    """LTV by ``formula`` from a customer's order count, revenue and first purchase date."""
    revenue = Decimal(revenue or 0)
    years = history_years(first_purchase_on, reference_date)
    retained = Decimal(settings.years_retained)
    history = LtvInput("history_years", _("years of purchase history (at least 1)"), years)
    if formula == LtvFormula.ORDER_VALUE:
        average = revenue / orders if orders else Decimal(0)
        per_year = Decimal(orders) / years
        value = average * per_year * retained
        inputs = (
            LtvInput("average_order_value", _("average order value"), average),
            LtvInput("purchases_per_year", _("purchases per year"), per_year),
            LtvInput("years_retained", _("years retained"), retained),
            LtvInput("orders", _("orders"), Decimal(orders)),
            LtvInput("revenue", _("revenue to date"), revenue),
            history,
        )
        expression = f"{_shown(average)} × {_shown(per_year)} × {_shown(retained)}"
    elif formula == LtvFormula.MARGIN:
        annual = revenue / years
        margin = Decimal(settings.gross_margin_percent)
        value = annual * margin / 100 * retained
        inputs = (
            LtvInput("annual_revenue", _("annual revenue"), annual),
            LtvInput("gross_margin_percent", _("gross margin (%)"), margin),
            LtvInput("years_retained", _("years retained"), retained),
            LtvInput("revenue", _("revenue to date"), revenue),
            history,
        )
        expression = f"{_shown(annual)} × {_shown(margin)}% × {_shown(retained)}"
    elif formula == LtvFormula.NET:
        acquisition = Decimal(settings.acquisition_cost)
        retention = Decimal(settings.retention_cost)
        value = revenue - (acquisition + retention)
        inputs = (
            LtvInput("revenue", _("revenue to date"), revenue),
            LtvInput("acquisition_cost", _("acquisition cost"), acquisition),
            LtvInput("retention_cost", _("retention cost"), retention),
        )
        expression = f"{_shown(revenue)} − ({_shown(acquisition)} + {_shown(retention)})"
    else:
        raise ValueError(f"unknown LTV formula {formula!r}")
    value = value.quantize(CENT, rounding=ROUND_HALF_UP)
    return LtvResult(
        formula=str(formula),
        label=str(LtvFormula(formula).label),
        value=value,
        expression=f"{expression} = {_shown(value)}",
        inputs=inputs,
        chosen=formula == settings.chosen_formula,
    )


def ltv_all(
    *,
    orders: int,
    revenue: Decimal,
    first_purchase_on: date | None,
    reference_date: date,
    settings: LtvSettings,
) -> tuple[LtvResult, ...]:
    """LTV by every formula, in the order of ``LtvFormula``."""
    return tuple(
        ltv_compute(
            formula,
            orders=orders,
            revenue=revenue,
            first_purchase_on=first_purchase_on,
            reference_date=reference_date,
            settings=settings,
        )
        for formula in LtvFormula.values
    )
