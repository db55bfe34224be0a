"""RFM scores, supervisor-editable segments, and the record of every move between segments."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from customers.models.people import Customer


class RfmMethod(models.TextChoices):
    QUINTILES = "quintiles", _("Quintiles of the customers who bought")
    CUTOFFS = "cutoffs", _("Fixed cut-offs")


def default_recency_cutoffs() -> list[int]:
    return [30, 90, 180, 365]


def default_frequency_cutoffs() -> list[int]:
    return [2, 3, 5, 10]


def default_monetary_cutoffs() -> list[int]:
    return [10_000, 30_000, 80_000, 200_000]


class RfmSettings(models.Model):
    """How R, F and M are scored (one row; supervisors edit it in the admin or the segments page).

    Fixed cut-offs: recency ``[a, b, c, d]`` days gives R5 for ≤a, R4 ≤b, R3 ≤c, R2 ≤d, R1 beyond;
    frequency and monetary ``[a, b, c, d]`` give 1 below a, 2 from a, 3 from b, 4 from c, 5 from d.
    """

    method = models.CharField(
        _("scoring"), max_length=12, choices=RfmMethod.choices, default=RfmMethod.QUINTILES
    )
    lookback_days = models.PositiveIntegerField(
        _("look-back window (days)"),
        default=730,
        validators=[MinValueValidator(1)],
        help_text=_("Purchases older than this do not count for frequency and monetary value."),
    )
    recency_cutoffs = models.JSONField(
        _("recency cut-offs (days)"), default=default_recency_cutoffs
    )
    frequency_cutoffs = models.JSONField(
        _("frequency cut-offs (orders)"), default=default_frequency_cutoffs
    )
    monetary_cutoffs = models.JSONField(
        _("monetary cut-offs (amount)"), default=default_monetary_cutoffs
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("RFM settings")
        verbose_name_plural = _("RFM settings")

    def __str__(self) -> str:
        return str(self.get_method_display())


class Lifecycle(models.TextChoices):
    """Where a segment's customers stand; campaigns serve existing > dormant > new."""

    EXISTING = "existing", _("Existing customers to deepen")
    DORMANT = "dormant", _("Dormant customers to reactivate")
    NEW = "new", _("New customers")


class Segment(models.Model):
    """A named class of customers. Active segments are tried in ``position`` order; the first
    whose conditions match takes the customer."""

    key = models.SlugField(_("key"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=80)
    name_ja = models.CharField(_("name (Japanese)"), max_length=80, blank=True)
    description = models.TextField(_("description"), blank=True)
    position = models.PositiveIntegerField(_("order"), default=100)
    conditions = models.JSONField(_("conditions"), default=dict, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    color = models.CharField(_("colour"), max_length=7, default="#5b6477")
    lifecycle = models.CharField(
        _("lifecycle"),
        max_length=10,
        choices=Lifecycle.choices,
        default=Lifecycle.EXISTING,
        help_text=_("Campaigns call existing customers first, then dormant ones, then new ones."),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    def display_name(self, language: str | None = None) -> str:
        from django.utils.translation import get_language

        return (
            self.name_ja
            if (language or get_language() or "").startswith("ja") and self.name_ja
            else self.name
        )


class SegmentationRun(models.Model):
    """One rescoring / resegmentation: its reference date, the cut-offs it used and what moved."""

    class Cause(models.TextChoices):
        IMPORT = "import", _("After an import")
        NIGHTLY = "nightly", _("Nightly")
        MANUAL = "manual", _("Started by a supervisor")
        TOUCHED = "touched", _("New purchases")
        OUTCOME = "outcome", _("Contact outcomes")
        RULE_CHANGE = "rule_change", _("Segment rules changed")

    cause = models.CharField(_("cause"), max_length=16, choices=Cause.choices)
    reference_date = models.DateField(_("reference date"))
    method = models.CharField(_("scoring"), max_length=12, choices=RfmMethod.choices)
    parameters = models.JSONField(
        _("parameters"), default=dict, help_text=_("Settings and cut-offs used.")
    )
    customers_scored = models.PositiveIntegerField(_("customers scored"), default=0)
    customers_moved = models.PositiveIntegerField(_("customers moved"), default=0)
    segment_counts = models.JSONField(_("customers per segment"), default=dict)
    timings = models.JSONField(_("timings (seconds)"), default=dict)
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("segmentation run")
        verbose_name_plural = _("segmentation runs")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_cause_display()} {self.reference_date}"


SCORE = [MinValueValidator(1), MaxValueValidator(5)]


class CustomerRfm(models.Model):
    """A customer's current raw R/F/M values, scores and segment (one row per customer).

    Customers without a purchase have no scores (NULL) and a recency of NULL.
    """

    customer = models.OneToOneField(
        Customer, primary_key=True, on_delete=models.CASCADE, related_name="rfm"
    )
    run = models.ForeignKey(SegmentationRun, null=True, on_delete=models.SET_NULL, related_name="+")
    reference_date = models.DateField(_("reference date"))
    recency_days = models.IntegerField(_("days since last purchase"), null=True)
    frequency = models.IntegerField(_("orders in window"), default=0)
    monetary = models.DecimalField(
        _("amount in window"), max_digits=16, decimal_places=2, default=0
    )
    purchase_count = models.IntegerField(_("orders ever"), default=0)
    total_amount = models.DecimalField(_("amount ever"), max_digits=16, decimal_places=2, default=0)
    first_purchase_at = models.DateTimeField(_("first purchase"), null=True)
    last_purchase_at = models.DateTimeField(_("last purchase"), null=True)
    r = models.PositiveSmallIntegerField("R", null=True, validators=SCORE)
    f = models.PositiveSmallIntegerField("F", null=True, validators=SCORE)
    m = models.PositiveSmallIntegerField("M", null=True, validators=SCORE)
    segment = models.ForeignKey(
        Segment, null=True, on_delete=models.SET_NULL, related_name="members"
    )
    segment_since = models.DateTimeField(_("in segment since"), null=True)
    purchases_changed = models.BooleanField(
        _("new purchases since the previous scoring"), default=False
    )
    scored_at = models.DateTimeField(_("scored at"))

    class Meta:
        verbose_name = _("customer RFM score")
        verbose_name_plural = _("customer RFM scores")
        indexes = [models.Index(fields=["segment", "customer"], name="rfm_segment_member_idx")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(r__gte=1, r__lte=5) | models.Q(r__isnull=True), name="rfm_r_1_5"
            ),
            models.CheckConstraint(
                condition=models.Q(f__gte=1, f__lte=5) | models.Q(f__isnull=True), name="rfm_f_1_5"
            ),
            models.CheckConstraint(
                condition=models.Q(m__gte=1, m__lte=5) | models.Q(m__isnull=True), name="rfm_m_1_5"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: R{self.r} F{self.f} M{self.m}"


class TransitionCause(models.TextChoices):
    FIRST = "first", _("First placement")
    NEW_PURCHASE = "new_purchase", _("New purchase")
    TIME_PASSING = "time_passing", _("Time passing")
    OUTCOME = "outcome", _("Contact outcome")
    RULE_CHANGE = "rule_change", _("Segment rules changed")


class SegmentTransition(models.Model):
    """A customer moved from one segment to another (or entered the first one).

    The cause is decided per customer: the run's rule change or contact outcome when that is why
    the run happened; otherwise a new purchase when this scoring saw purchases the previous one
    did not, else time passing.
    """

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="segment_transitions"
    )
    run = models.ForeignKey(SegmentationRun, on_delete=models.CASCADE, related_name="transitions")
    from_segment = models.ForeignKey(
        Segment, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_segment = models.ForeignKey(Segment, null=True, on_delete=models.SET_NULL, related_name="+")
    cause = models.CharField(_("cause"), max_length=16, choices=TransitionCause.choices)
    created_at = models.DateTimeField(_("when"))

    class Meta:
        verbose_name = _("segment transition")
        verbose_name_plural = _("segment transitions")
        indexes = [
            models.Index(fields=["customer", "-created_at"], name="transition_customer_idx"),
            models.Index(fields=["run", "from_segment", "to_segment"], name="transition_run_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["run", "customer"], name="transition_once_per_run"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.from_segment_id} → {self.to_segment_id}"
