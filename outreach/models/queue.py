"""The work queue: who works which campaign, the members to contact, and every contact attempt."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign
from customers.models import Channel, Customer
from outreach.models.dispositions import Disposition


class Team(models.Model):
    """A group of agents that works the same campaigns."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    campaigns = models.ManyToManyField(
        Campaign, blank=True, related_name="teams", verbose_name=_("campaigns")
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AgentProfile(models.Model):
    """An agent's place in the contact centre: team and capacity.

    ``capacity`` is the number of members the agent can work in a day; push assignment (round
    robin weighted by capacity) shares a campaign's members in proportion to it.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="agent_profile"
    )
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="agents",
        verbose_name=_("team"),
    )
    capacity = models.PositiveIntegerField(
        _("capacity (members per day)"), default=80, validators=[MinValueValidator(1)]
    )
    is_available = models.BooleanField(
        _("available"), default=True, help_text=_("Unavailable agents get no pushed members.")
    )

    class Meta:
        verbose_name = _("agent")
        verbose_name_plural = _("agents")
        constraints = [
            models.CheckConstraint(condition=Q(capacity__gte=1), name="agent_capacity_positive"),
        ]

    def __str__(self) -> str:
        return str(self.user)


class CampaignLaunch(models.Model):
    """The materialisation of a campaign's members: progress while it runs, counts afterwards."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    campaign = models.OneToOneField(Campaign, on_delete=models.CASCADE, related_name="launch")
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.QUEUED
    )
    step = models.CharField(_("step"), max_length=40, blank=True)
    steps_done = models.PositiveSmallIntegerField(_("steps done"), default=0)
    steps_total = models.PositiveSmallIntegerField(_("steps"), default=0)
    targeted = models.PositiveIntegerField(_("targeted"), default=0)
    excluded = models.JSONField(_("excluded, by reason"), default=dict)
    holdout = models.PositiveIntegerField(_("holdout"), default=0)
    treatment = models.PositiveIntegerField(_("treatment"), default=0)
    timings = models.JSONField(_("timings (seconds)"), default=dict)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("campaign launch")
        verbose_name_plural = _("campaign launches")

    def __str__(self) -> str:
        return f"{self.campaign} ({self.get_status_display()})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        return int(100 * self.steps_done / self.steps_total) if self.steps_total else 0


class MemberGroup(models.TextChoices):
    TREATMENT = "treatment", _("Treatment")
    HOLDOUT = "holdout", _("Holdout")
    NONE = "", _("Not in the experiment (excluded at launch)")


class MemberStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting")
    CLAIMED = "claimed", _("Claimed")
    DONE = "done", _("Done")
    EXCLUDED = "excluded", _("Excluded")
    HELD_OUT = "held_out", _("Held out")


class Lane(models.IntegerChoices):
    """Which queue a waiting member is in; lower lanes are served first."""

    CALLBACK = 0, _("Callback")
    RETRY = 1, _("Retry")
    FRESH = 2, _("First contact")


class CloseReason(models.TextChoices):
    """Why a member left the queue (status done or excluded)."""

    NONE = "", _("—")
    CONVERTED = "converted", _("Converted")
    FINAL = "final", _("Final outcome")
    EXHAUSTED = "exhausted", _("Attempts exhausted")
    DO_NOT_CONTACT = "do_not_contact", _("Do not contact")
    PHONE_DO_NOT_CONTACT = "phone_dnc", _("Phone number on the do-not-contact list")
    EMAIL_DO_NOT_CONTACT = "email_dnc", _("E-mail address on the do-not-contact list")
    REFUSED_PRODUCT = "refused_product", _("Refused this product")
    EMAIL_OPTED_OUT = "email_opted_out", _("Opted out of e-mail")
    NO_EMAIL_CONSENT = "no_email_consent", _("No e-mail consent")
    NO_PHONE = "no_phone", _("No usable phone number")
    NO_EMAIL = "no_email", _("No e-mail address")
    CAMPAIGN_ENDED = "campaign_ended", _("Campaign ended")


class CampaignMember(models.Model):
    """One customer in one campaign: the unit agents claim.

    A waiting member is served when ``due_at`` has passed, callbacks (lane 0) before retries
    (lane 1) before first contacts (lane 2), then by ``rank`` (the launch order). A claim is held
    by one agent until it is logged, released or expires (``claim_expires_at``).
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members")
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="campaign_memberships"
    )
    group = models.CharField(
        _("group"), max_length=10, choices=MemberGroup.choices, blank=True, default=""
    )
    status = models.CharField(
        _("status"), max_length=10, choices=MemberStatus.choices, default=MemberStatus.QUEUED
    )
    close_reason = models.CharField(
        _("reason"), max_length=20, choices=CloseReason.choices, blank=True, default=""
    )
    lane = models.PositiveSmallIntegerField(_("lane"), choices=Lane.choices, default=Lane.FRESH)
    tier = models.PositiveSmallIntegerField(
        _("tier"), default=1, help_text=_("1 existing customers, 2 dormant, 3 new.")
    )
    rank = models.PositiveIntegerField(_("order"), default=0)
    due_at = models.DateTimeField(_("due at"))
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_members",
        verbose_name=_("owner (担当者)"),
    )
    callback_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="personal_callbacks",
        verbose_name=_("callback for"),
    )
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="claimed_members",
        verbose_name=_("claimed by"),
    )
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    claim_expires_at = models.DateTimeField(_("claim expires at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    converted_at = models.DateTimeField(_("converted at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("campaign member")
        verbose_name_plural = _("campaign members")
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "customer"], name="member_once_per_campaign"
            ),
            models.CheckConstraint(
                condition=~Q(status="claimed")
                | Q(claimed_by__isnull=False, claim_expires_at__isnull=False),
                name="member_claim_has_agent_and_expiry",
            ),
            models.CheckConstraint(
                condition=Q(status="claimed") | Q(claimed_by__isnull=True),
                name="member_claimed_by_only_when_claimed",
            ),
            # An agent works one member of a campaign at a time: claim-next is idempotent.
            models.UniqueConstraint(
                fields=["campaign", "claimed_by"],
                condition=Q(status="claimed"),
                name="member_one_claim_per_agent_per_campaign",
            ),
            models.CheckConstraint(
                condition=Q(status__in=MemberStatus.values), name="member_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="held_out") | Q(group="holdout"),
                name="member_held_out_is_holdout",
            ),
        ]
        indexes = [
            # The claim query: waiting members of a campaign by lane, owner, due time and order.
            models.Index(
                fields=["campaign", "lane", "owner", "due_at", "rank"],
                condition=Q(status="queued"),
                name="member_claim_idx",
            ),
            models.Index(
                fields=["claim_expires_at"],
                condition=Q(status="claimed"),
                name="member_claim_expiry_idx",
            ),
            models.Index(fields=["customer", "status"], name="member_customer_idx"),
            models.Index(fields=["campaign", "status", "group"], name="member_campaign_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.customer_id} {self.status}"


class VoiceCategory(models.TextChoices):
    NONE = "", _("—")
    COMPLAINT = "complaint", _("Complaint")
    REQUEST = "request", _("Request")
    PRAISE = "praise", _("Praise")
    OTHER = "other", _("Other")


class ContactAttempt(models.Model):
    """One logged contact (call or e-mail) and its outcome. Append-only.

    The disposition's meaning at the time of logging (reached, success, counted) is copied so
    that later edits to the catalogue do not rewrite history.
    """

    idempotency_key = models.CharField(_("idempotency key"), max_length=80, unique=True)
    member = models.ForeignKey(
        CampaignMember,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contact_attempts",
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="contact_attempts"
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="contact_attempts"
    )
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contact_attempts",
        verbose_name=_("agent"),
    )
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    address = models.CharField(_("number or address used"), max_length=254, blank=True, default="")
    disposition = models.ForeignKey(
        Disposition, on_delete=models.PROTECT, related_name="+", verbose_name=_("outcome")
    )
    attempted_at = models.DateTimeField(_("when"))
    duration_seconds = models.PositiveIntegerField(_("duration (seconds)"), default=0)
    notes = models.TextField(_("notes"), blank=True)
    voice_category = models.CharField(
        _("customer voice"), max_length=10, choices=VoiceCategory.choices, blank=True, default=""
    )
    voice_text = models.TextField(_("customer voice (text)"), blank=True)
    nps = models.PositiveSmallIntegerField(
        "NPS", null=True, blank=True, validators=[MaxValueValidator(10)]
    )
    callback_at = models.DateTimeField(_("callback at"), null=True, blank=True)
    callback_scope = models.CharField(
        _("who takes the callback"),
        max_length=12,
        choices=Disposition.CallbackScope.choices,
        blank=True,
        default="",
    )
    disclosure_given = models.BooleanField(_("disclosure given"), default=False)
    reached = models.BooleanField(_("reached"), default=False)
    success = models.BooleanField(_("success"), default=False)
    counts_as_attempt = models.BooleanField(_("counts as an attempt"), default=True)
    created_at = models.DateTimeField(_("logged at"), auto_now_add=True)

    class Meta:
        verbose_name = _("contact attempt")
        verbose_name_plural = _("contact attempts")
        ordering = ["-attempted_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(nps__isnull=True) | Q(nps__gte=0, nps__lte=10), name="attempt_nps_0_10"
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "-attempted_at"], name="attempt_customer_time_idx"),
            models.Index(fields=["campaign", "attempted_at"], name="attempt_campaign_time_idx"),
            models.Index(fields=["agent", "attempted_at"], name="attempt_agent_time_idx"),
            # Retention KPIs: survey answers by period; agent performance: personal callbacks
            # by the time they came due.
            models.Index(
                fields=["attempted_at"], condition=Q(nps__isnull=False), name="attempt_nps_time_idx"
            ),
            models.Index(
                fields=["callback_at"],
                condition=Q(callback_scope="personal"),
                name="attempt_personal_callback_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.disposition_id} {self.attempted_at:%Y-%m-%d %H:%M}"
