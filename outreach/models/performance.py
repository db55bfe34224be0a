"""Agent performance pre-aggregated per agent, campaign and local day."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign


class AgentDailyStats(models.Model):
    """One agent's counted contact attempts on one campaign on one local day, and the personal
    callbacks that came due that day.

    Rebuilt set-based for whole days by ``outreach.performance.agent_daily_stats_rebuild``;
    the performance page reads these rows for past days and the attempts themselves for days
    not rebuilt yet (today), so its numbers are never stale.
    """

    day = models.DateField(_("day"))
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("agent"),
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="+", verbose_name=_("campaign")
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    reached = models.PositiveIntegerField(_("reached"), default=0)
    conversions = models.PositiveIntegerField(_("conversions"), default=0)
    calls = models.PositiveIntegerField(_("calls"), default=0)
    handle_seconds = models.PositiveBigIntegerField(_("handle time (seconds)"), default=0)
    callbacks_due = models.PositiveIntegerField(_("personal callbacks due"), default=0)
    callbacks_kept = models.PositiveIntegerField(_("personal callbacks kept"), default=0)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("agent daily statistics")
        verbose_name_plural = _("agent daily statistics")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "agent", "campaign"], name="agent_stats_once_per_day"
            ),
        ]
        indexes = [models.Index(fields=["day", "agent"], name="agent_stats_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.agent_id} {self.campaign_id}"
