"""The outreach catalogue: contact outcomes (dispositions, 結果コード) and the meaning the system acts on."""

from django.db import models
from django.db.models import Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


class Disposition(models.Model):
    """One outcome an agent (or the mailer) can record for a contact. Supervisors edit the catalogue;
    the flags, not the code or the label, decide what happens next."""

    class CallbackScope(models.TextChoices):
        NONE = "", _("No callback")
        PERSONAL = "personal", _("The same agent")
        ANY_AGENT = "any_agent", _("Any agent")

    class Channel(models.TextChoices):
        ANY = "", _("Calls and email")
        CALL = "call", _("Calls")
        EMAIL = "email", _("Email")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=80)
    name_ja = models.CharField(_("name (Japanese)"), max_length=80, blank=True)
    position = models.PositiveIntegerField(_("order"), default=100)
    is_active = models.BooleanField(_("active"), default=True)
    channel = models.CharField(
        _("channel"), max_length=8, choices=Channel.choices, default=Channel.ANY, blank=True
    )
    shortcut = models.CharField(
        _("keyboard shortcut"),
        max_length=1,
        blank=True,
        help_text=_("One key; unique among active outcomes."),
    )

    reached = models.BooleanField(
        _("person reached"), default=False, help_text=_("The customer was reached in person.")
    )
    success = models.BooleanField(
        _("success"), default=False, help_text=_("Converted: the campaign's goal was achieved.")
    )
    callback = models.BooleanField(
        _("callback"), default=False, help_text=_("The agent must enter a callback time.")
    )
    callback_scope = models.CharField(
        _("who takes the callback"),
        max_length=12,
        choices=CallbackScope.choices,
        default=CallbackScope.NONE,
        blank=True,
    )
    retry_after_minutes = models.PositiveIntegerField(
        _("retry after (minutes)"),
        null=True,
        blank=True,
        help_text=_(
            "Schedule another attempt after this many minutes (no answer, busy, voicemail)."
        ),
    )
    final_for_campaign = models.BooleanField(
        _("final for the campaign"),
        default=False,
        help_text=_("The customer is done for this campaign."),
    )
    wrong_number = models.BooleanField(
        _("wrong number"), default=False, help_text=_("The number dialled is unusable.")
    )
    refused_product = models.BooleanField(
        _("refused this product"),
        default=False,
        help_text=_(
            "Never solicit this product again (Specified Commercial Transactions Act, Art. 17)."
        ),
    )
    do_not_contact = models.BooleanField(
        _("do not contact"),
        default=False,
        help_text=_("Never contact again, on any campaign or channel."),
    )
    email_opt_out = models.BooleanField(
        _("email opt-out"),
        default=False,
        help_text=_("The customer unsubscribed from marketing email (calls are not affected)."),
    )
    counts_as_attempt = models.BooleanField(
        _("counts as an attempt"),
        default=True,
        help_text=_("Counted against the campaign's maximum number of attempts."),
    )
    requires_disclosure = models.BooleanField(
        _("requires disclosure"),
        default=False,
        help_text=_(
            "On a call, the agent must confirm the Art. 16 disclosure (company, own name, product, "
            "solicitation) was given."
        ),
    )
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("contact outcome")
        verbose_name_plural = _("contact outcomes")
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(callback=False, callback_scope="")
                | Q(callback=True, callback_scope__in=["personal", "any_agent"]),
                name="outreach_disposition_callback_has_scope",
                violation_error_message=_(
                    "A callback needs to say who takes it, and only a callback does."
                ),
            ),
            models.CheckConstraint(
                condition=Q(success=False) | Q(reached=True),
                name="outreach_disposition_success_reached",
                violation_error_message=_("A success must have reached the customer."),
            ),
            models.CheckConstraint(
                condition=Q(refused_product=False, do_not_contact=False, email_opt_out=False)
                | Q(final_for_campaign=True),
                name="outreach_disposition_refusal_final",
                violation_error_message=_(
                    "A refusal, do-not-contact or email opt-out must be final for the campaign."
                ),
            ),
            models.CheckConstraint(
                condition=Q(retry_after_minutes__isnull=True) | Q(final_for_campaign=False),
                name="outreach_disposition_retry_not_final",
                violation_error_message=_("An outcome cannot both schedule a retry and be final."),
            ),
            models.CheckConstraint(
                condition=Q(callback=False) | Q(final_for_campaign=False),
                name="outreach_disposition_callback_not_final",
                violation_error_message=_("A callback cannot be final for the campaign."),
            ),
            models.CheckConstraint(
                condition=Q(channel__in=["", "call", "email"]),
                name="outreach_disposition_channel_valid",
            ),
            models.UniqueConstraint(
                fields=["shortcut"],
                condition=Q(is_active=True) & ~Q(shortcut=""),
                name="outreach_disposition_unique_active_shortcut",
                violation_error_message=_("Another active outcome already uses this shortcut."),
            ),
        ]

    def __str__(self) -> str:
        return self.display_name()

    def display_name(self, language: str | None = None) -> str:
        return (
            self.name_ja
            if (language or get_language() or "").startswith("ja") and self.name_ja
            else self.name
        )

    def applies_to(self, channel: str) -> bool:
        return not self.channel or self.channel == channel
