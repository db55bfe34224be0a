"""Customer value measures shown on the customer card: LTV parameters and category affinity."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class LtvFormula(models.TextChoices):
    """The three LTV formulas of DOMAIN.md ("Measures"); supervisors pick the one the card shows."""

    ORDER_VALUE = (
        "order_value",
        _("Average order value × purchases per year × years retained"),
    )
    MARGIN = "margin", _("Annual revenue × gross margin × years retained")
    NET = "net", _("Revenue − (acquisition cost + retention cost)")


class LtvSettings(models.Model):
    """Parameters of the LTV formulas (one row; supervisors edit it in the admin).

    A customer's own history gives the order count, average order value and revenue; "per year"
    divides by the years from the first purchase to the reference date, counted as at least one
    year so that a customer who bought last week is not extrapolated fifty-fold.
    """

    chosen_formula = models.CharField(
        _("formula shown on the customer card"),
        max_length=16,
        choices=LtvFormula.choices,
        default=LtvFormula.ORDER_VALUE,
    )
    gross_margin_percent = models.DecimalField(
        _("gross margin (%)"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("60"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    years_retained = models.DecimalField(
        _("average years retained"),
        max_digits=5,
        decimal_places=2,
        default=Decimal("3"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    acquisition_cost = models.DecimalField(
        _("acquisition cost per customer"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("3000"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    retention_cost = models.DecimalField(
        _("retention cost per customer"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("1000"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("LTV settings")
        verbose_name_plural = _("LTV settings")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(gross_margin_percent__gte=0, gross_margin_percent__lte=100),
                name="ltv_margin_0_100",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    years_retained__gte=0, acquisition_cost__gte=0, retention_cost__gte=0
                ),
                name="ltv_parameters_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return str(self.get_chosen_formula_display())


class CategoryAffinity(models.Model):
    """How often customers who bought ``category`` also bought ``other_category``.

    Rebuilt in one set-based statement by ``customers.services.affinity.category_affinity_rebuild``
    (nightly and after a purchases import); pairs bought together by fewer customers than the
    minimum support are left out, which keeps the table small. ``confidence`` is
    ``customers_both / customers_category``; ``lift`` divides it by the share of all buying
    customers who bought ``other_category`` (above 1: bought together more than by chance).
    """

    category = models.CharField(_("category"), max_length=200)
    other_category = models.CharField(_("also bought"), max_length=200)
    customers_both = models.PositiveIntegerField(_("customers who bought both"))
    customers_category = models.PositiveIntegerField(_("customers who bought the category"))
    customers_other = models.PositiveIntegerField(_("customers who bought the other"))
    confidence = models.FloatField(_("confidence"))
    lift = models.FloatField(_("lift"))
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("category affinity")
        verbose_name_plural = _("category affinities")
        constraints = [
            models.UniqueConstraint(
                fields=["category", "other_category"], name="affinity_unique_pair"
            ),
            models.CheckConstraint(
                condition=~models.Q(category=models.F("other_category")),
                name="affinity_distinct_categories",
            ),
        ]
        indexes = [
            # Suggestions: the pairs of the customer's categories, best first.
            models.Index(fields=["category", "-confidence"], name="affinity_category_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.category} → {self.other_category} ({self.confidence:.0%})"


class KpiPeriod(models.TextChoices):
    MONTH = "month", _("Month")
    WEEK = "week", _("Week")


class KpiSnapshot(models.Model):
    """Retention KPIs of one period (month or week) for one segment, or for everyone.

    Filled set-based by ``customers.kpis.kpi_snapshots_rebuild`` (nightly, or when a supervisor
    asks); the KPI page and API read only this table. ``segment`` NULL is the row for all
    customers; a segment row counts the customers who were in that segment at the period start.
    Rates are not stored: they are derived from the counts, so an empty base shows "—".
    """

    period = models.CharField(_("period"), max_length=5, choices=KpiPeriod.choices)
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end (exclusive)"))
    is_complete = models.BooleanField(
        _("complete"), default=True, help_text=_("False for the current period (to date).")
    )
    segment = models.ForeignKey(
        "customers.Segment",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("segment"),
    )
    customers_at_start = models.PositiveIntegerField(_("active customers at start"), default=0)
    retained = models.PositiveIntegerField(_("bought again in the period"), default=0)
    lost = models.PositiveIntegerField(_("lost in the period"), default=0)
    dormant_at_start = models.PositiveIntegerField(_("dormant at start"), default=0)
    reactivated = models.PositiveIntegerField(_("dormant at start who bought"), default=0)
    dormant_at_end = models.PositiveIntegerField(_("dormant at end"), default=0)
    nps_responses = models.PositiveIntegerField(_("NPS responses"), default=0)
    promoters = models.PositiveIntegerField(_("promoters (9–10)"), default=0)
    detractors = models.PositiveIntegerField(_("detractors (0–6)"), default=0)
    ltv_customers = models.PositiveIntegerField(_("customers in the LTV average"), default=0)
    ltv_order_value = models.DecimalField(
        _("average LTV (order value formula)"), max_digits=16, decimal_places=2, null=True
    )
    ltv_margin = models.DecimalField(
        _("average LTV (margin formula)"), max_digits=16, decimal_places=2, null=True
    )
    ltv_net = models.DecimalField(
        _("average LTV (net formula)"), max_digits=16, decimal_places=2, null=True
    )
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("KPI snapshot")
        verbose_name_plural = _("KPI snapshots")
        ordering = ["period", "period_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["period", "period_start"],
                condition=models.Q(segment__isnull=True),
                name="kpi_once_per_period_all",
            ),
            models.UniqueConstraint(
                fields=["period", "period_start", "segment"],
                condition=models.Q(segment__isnull=False),
                name="kpi_once_per_period_segment",
            ),
            models.CheckConstraint(
                condition=models.Q(retained__lte=models.F("customers_at_start"))
                & models.Q(lost__lte=models.F("customers_at_start"))
                & models.Q(reactivated__lte=models.F("dormant_at_start"))
                & models.Q(promoters__lte=models.F("nps_responses"))
                & models.Q(detractors__lte=models.F("nps_responses")),
                name="kpi_parts_within_base",
            ),
        ]
        indexes = [
            models.Index(fields=["period", "segment", "period_start"], name="kpi_period_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.period} {self.period_start} {self.segment_id or 'all'}"

    # Rates in percent from the counts (customers.kpis states the definitions); None: no base.
    @property
    def retention_rate(self) -> float | None:
        from customers.kpis import percent

        return percent(self.retained, self.customers_at_start)

    @property
    def churn_rate(self) -> float | None:
        from customers.kpis import percent

        return percent(self.lost, self.customers_at_start)

    @property
    def reactivation_rate(self) -> float | None:
        from customers.kpis import percent

        return percent(self.reactivated, self.dormant_at_start)

    @property
    def nps(self) -> float | None:
        from customers.kpis import nps_score

        return nps_score(self.promoters, self.detractors, self.nps_responses)
