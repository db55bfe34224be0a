"""Who looked at which customer's card, and when (個人情報保護法: access to personal data is logged)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from customers.models import Customer


class CustomerCardView(models.Model):
    """One opening of a customer card. Append-only; written by the workspace views."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user"),
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="card_views", verbose_name=_("customer")
    )
    member = models.ForeignKey(
        "outreach.CampaignMember",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("campaign member"),
    )
    reason = models.CharField(_("access through"), max_length=20)
    viewed_at = models.DateTimeField(_("viewed at"), auto_now_add=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)

    class Meta:
        verbose_name = _("customer card view")
        verbose_name_plural = _("customer card views")
        ordering = ["-viewed_at"]
        indexes = [
            models.Index(fields=["customer", "-viewed_at"], name="cardview_customer_idx"),
            models.Index(fields=["user", "-viewed_at"], name="cardview_user_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.customer_id} {self.viewed_at:%Y-%m-%d %H:%M}"
