from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from outreach.models import Disposition


@admin.register(Disposition)
class DispositionAdmin(admin.ModelAdmin):
    list_display = (
        "position",
        "code",
        "name",
        "name_ja",
        "channel",
        "shortcut",
        "reached",
        "success",
        "callback_scope",
        "retry_after_minutes",
        "final_for_campaign",
        "wrong_number",
        "refused_product",
        "do_not_contact",
        "email_opt_out",
        "counts_as_attempt",
        "requires_disclosure",
        "is_active",
    )
    list_display_links = ("code",)
    list_editable = ("position", "is_active")
    list_filter = (
        "is_active",
        "channel",
        "reached",
        "success",
        "callback",
        "final_for_campaign",
        "refused_product",
        "do_not_contact",
    )
    search_fields = ("code", "name", "name_ja")
    ordering = ("position", "id")
    fieldsets = (
        (
            None,
            {"fields": ("code", "name", "name_ja", "position", "is_active", "channel", "shortcut")},
        ),
        (
            _("Meaning"),
            {
                "fields": (
                    "reached",
                    "success",
                    "requires_disclosure",
                    ("callback", "callback_scope"),
                    "retry_after_minutes",
                    "final_for_campaign",
                    "counts_as_attempt",
                )
            },
        ),
        (
            _("Stops further contact"),
            {"fields": ("wrong_number", "refused_product", "do_not_contact", "email_opt_out")},
        ),
    )
