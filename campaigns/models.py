"""Campaigns: who is targeted, what is offered, on which channel, and when contacts may happen."""

from datetime import time
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from customers.models import Channel, Segment


def default_time_zone() -> str:
    return settings.TIME_ZONE


class CampaignKind(models.TextChoices):
    DORMANT_REACTIVATION = "dormant_reactivation", _("Dormant reactivation")
    UPSELL_CROSS_SELL = "upsell_cross_sell", _("Upsell / cross-sell")
    VIP_OFFER = "vip_offer", _("VIP-only offer")
    BIRTHDAY_MONTH = "birthday_month", _("Birthday-month offer (every year)")
    REPEAT_BUYER_COUPON = "repeat_buyer_coupon", _("Repeat-buyer coupon")
    AFTER_PURCHASE_FOLLOW_UP = "after_purchase_follow_up", _("After-purchase follow-up")
    NPS_SURVEY = "nps_survey", _("Satisfaction / NPS survey")


class CampaignState(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SCHEDULED = "scheduled", _("Scheduled")
    RUNNING = "running", _("Running")
    PAUSED = "paused", _("Paused")
    COMPLETED = "completed", _("Completed")


class AssignmentMode(models.TextChoices):
    PULL = "pull", _("Pull: agents take the next best member")
    ROUND_ROBIN = "round_robin", _("Round robin: members shared out equally at launch")
    WEIGHTED = "weighted", _("Weighted push: members shared out by agent capacity at launch")
    OWNER = "owner", _("Named owner (担当者): members go to the customer's owner")


class Campaign(models.Model):
    """One retention action (施策): target, channel, dates, script or e-mail, offer and holdout.

    ``product`` is the product code or category the offer is about; refusals recorded under
    特定商取引法 Art.17 (``customers.ProductRefusal``) are matched against it. State changes go
    through ``campaigns.services.campaign_transition`` only.
    """

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=32, choices=CampaignKind.choices)
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    state = models.CharField(
        _("state"),
        max_length=12,
        choices=CampaignState.choices,
        default=CampaignState.DRAFT,
        editable=False,
    )

    # Target
    target_segments = models.ManyToManyField(
        Segment, blank=True, related_name="campaigns", verbose_name=_("target segments")
    )
    extra_filters = models.JSONField(
        _("extra filters"),
        default=dict,
        blank=True,
        help_text=_("Further conditions, in the same format as segment rules."),
    )

    # Offer
    product = models.CharField(
        _("product or category"),
        max_length=200,
        blank=True,
        help_text=_(
            "Product code or category the offer is about; customers who refused it are never solicited."
        ),
    )
    offer = models.TextField(_("offer"), blank=True)
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    priority = models.PositiveSmallIntegerField(
        _("priority"), default=50, help_text=_("Higher numbers are served first.")
    )

    # Call script and 特定商取引法 Art.16 disclosure
    script = models.TextField(_("script"), blank=True)
    disclosure_company = models.CharField(_("disclosure: company name"), max_length=200, blank=True)
    disclosure_product = models.CharField(
        _("disclosure: product or service"), max_length=200, blank=True
    )
    disclosure_purpose = models.CharField(
        _("disclosure: purpose of the call"),
        max_length=300,
        blank=True,
        help_text=_("States that the call is a solicitation."),
    )

    # E-mail and 特定電子メール法 sender identity
    email_subject = models.CharField(_("e-mail subject"), max_length=200, blank=True)
    email_body = models.TextField(_("e-mail body"), blank=True)
    sender_name = models.CharField(_("sender name"), max_length=200, blank=True)
    sender_postal_address = models.CharField(_("sender postal address"), max_length=400, blank=True)
    sender_contact = models.CharField(
        _("sender contact"),
        max_length=200,
        blank=True,
        help_text=_("Telephone number, e-mail address or URL for enquiries."),
    )

    # Measurement
    holdout_percent = models.DecimalField(
        _("holdout (%)"),
        max_digits=4,
        decimal_places=1,
        default=Decimal("10"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("50"))],
        help_text=_("Share of the target kept uncontacted to measure lift."),
    )
    holdout_seed = models.BigIntegerField(_("holdout seed"), null=True, blank=True, editable=False)
    cost_per_call = models.DecimalField(
        _("cost per call"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Cost of one call attempt (yen); gives the cost per incremental purchase."),
    )
    cost_per_email = models.DecimalField(
        _("cost per e-mail"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Cost of one e-mail sent (yen); gives the cost per incremental purchase."),
    )

    # Work distribution
    assignment_mode = models.CharField(
        _("assignment"),
        max_length=12,
        choices=AssignmentMode.choices,
        default=AssignmentMode.PULL,
    )
    owner_attribute = models.CharField(
        _("owner attribute"),
        max_length=64,
        blank=True,
        default="owner",
        help_text=_(
            "Named-owner assignment: the customer attribute holding the owner's user name."
        ),
    )
    launched_at = models.DateTimeField(_("launched at"), null=True, blank=True, editable=False)

    # Contact rules
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default=default_time_zone,
        help_text=_("Used for customers whose own time zone is unknown."),
    )
    window_start = models.TimeField(_("calls from"), default=time(9, 0))
    window_end = models.TimeField(_("calls until"), default=time(20, 0))
    call_on_weekends = models.BooleanField(_("call on weekends"), default=False)
    call_on_holidays = models.BooleanField(_("call on public holidays"), default=False)
    blocked_dates = models.JSONField(
        _("blocked dates"), default=list, blank=True, help_text=_("ISO dates with no contacts.")
    )
    retry_after_minutes = models.PositiveIntegerField(_("retry after (minutes)"), default=120)
    max_attempts = models.PositiveSmallIntegerField(_("maximum attempts"), default=5)
    frequency_cap_contacts = models.PositiveSmallIntegerField(
        _("frequency cap: contacts"), default=3
    )
    frequency_cap_days = models.PositiveSmallIntegerField(_("frequency cap: days"), default=14)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-priority", "starts_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(starts_on__isnull=True)
                | Q(ends_on__isnull=True)
                | Q(ends_on__gte=F("starts_on")),
                name="campaign_ends_not_before_starts",
                violation_error_message=_("The end date cannot be before the start date."),
            ),
            models.CheckConstraint(
                condition=Q(holdout_percent__gte=0) & Q(holdout_percent__lte=50),
                name="campaign_holdout_percent_0_50",
                violation_error_message=_("The holdout must be between 0 and 50 %."),
            ),
            models.CheckConstraint(
                condition=Q(window_start__lt=F("window_end")),
                name="campaign_window_start_before_end",
                violation_error_message=_("The calling window must start before it ends."),
            ),
            models.CheckConstraint(
                condition=Q(state__in=CampaignState.values),
                name="campaign_state_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "-priority"], name="campaign_state_priority_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def refusal_key(self) -> str:
        """What a refusal on this campaign is recorded against, and matched with (Art.17)."""
        return (self.product or self.disclosure_product or "").strip()


class CampaignResultSnapshot(models.Model):
    """Pre-aggregated results of one campaign for one attribution window (see campaigns.results).

    ``data`` holds the raw counts and sums (per group and per day since the window start) from
    which every rate, lift and confidence interval is derived when read; one row per campaign and
    window length, replaced in place on refresh.
    """

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="result_snapshots"
    )
    window_days = models.PositiveSmallIntegerField(
        _("attribution window (days)"), validators=[MinValueValidator(1), MaxValueValidator(366)]
    )
    window_start = models.DateTimeField(_("window start"), null=True, blank=True)
    window_end = models.DateTimeField(_("window end"), null=True, blank=True)
    computed_at = models.DateTimeField(_("computed at"))
    duration_ms = models.PositiveIntegerField(_("computation time (ms)"), default=0)
    data = models.JSONField(_("numbers"), default=dict)

    class Meta:
        verbose_name = _("campaign result snapshot")
        verbose_name_plural = _("campaign result snapshots")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "window_days"], name="result_snapshot_once_per_window"
            ),
            models.CheckConstraint(
                condition=Q(window_days__gte=1) & Q(window_days__lte=366),
                name="result_snapshot_window_1_366",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.window_days}d @ {self.computed_at:%Y-%m-%d %H:%M}"
