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
