from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from outreach.models import (
    AgentProfile,
    CampaignLaunch,
    CampaignMember,
    ContactAttempt,
    CustomerCardView,
    Disposition,
    Team,
)


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


class AgentInline(admin.TabularInline):
    model = AgentProfile
    extra = 0
    fields = ("user", "capacity", "is_available")
    autocomplete_fields = ("user",)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "is_active", "agent_count")
    list_filter = ("is_active",)
    search_fields = ("name",)
    filter_horizontal = ("campaigns",)
    inlines = (AgentInline,)

    @admin.display(description=_("agents"))
    def agent_count(self, team: Team) -> int:
        return team.agents.count()


@admin.register(AgentProfile)
class AgentProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "team", "capacity", "is_available")
    list_filter = ("team", "is_available")
    list_editable = ("capacity", "is_available")
    search_fields = ("user__username", "user__first_name", "user__last_name")
    autocomplete_fields = ("user",)


@admin.register(CampaignLaunch)
class CampaignLaunchAdmin(admin.ModelAdmin):
    list_display = ("campaign", "status", "targeted", "treatment", "holdout", "created_at")
    list_filter = ("status",)
    search_fields = ("campaign__name",)
    readonly_fields = [f.name for f in CampaignLaunch._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(CampaignMember)
class CampaignMemberAdmin(admin.ModelAdmin):
    list_display = (
        "campaign",
        "customer",
        "group",
        "status",
        "close_reason",
        "lane",
        "due_at",
        "attempts",
        "owner",
        "claimed_by",
    )
    list_filter = ("status", "group", "lane", "close_reason", "campaign")
    search_fields = ("customer__name", "customer__external_id", "customer__phone")
    list_select_related = ("campaign", "customer", "owner", "claimed_by")
    raw_id_fields = ("customer",)
    autocomplete_fields = ("owner", "callback_agent")
    readonly_fields = (
        "campaign",
        "customer",
        "group",
        "status",
        "close_reason",
        "tier",
        "rank",
        "claimed_by",
        "claimed_at",
        "claim_expires_at",
        "attempts",
        "last_attempt_at",
        "converted_at",
        "closed_at",
    )
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False  # members come from a launch


@admin.register(ContactAttempt)
class ContactAttemptAdmin(admin.ModelAdmin):
    list_display = (
        "attempted_at",
        "campaign",
        "customer",
        "agent",
        "channel",
        "disposition",
        "reached",
        "success",
        "duration_seconds",
        "voice_category",
    )
    list_filter = ("channel", "disposition", "reached", "success", "voice_category", "campaign")
    search_fields = ("customer__name", "customer__external_id", "notes", "voice_text")
    list_select_related = ("campaign", "customer", "agent", "disposition")
    date_hierarchy = "attempted_at"
    readonly_fields = [f.name for f in ContactAttempt._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False  # outcomes are logged through the outcome service

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CustomerCardView)
class CustomerCardViewAdmin(admin.ModelAdmin):
    """The audit of customer-card views: read-only, for admins and supervisors."""

    list_display = ("viewed_at", "user", "customer", "reason", "member", "ip_address")
    list_filter = ("reason",)
    search_fields = ("user__username", "customer__name", "customer__external_id")
    list_select_related = ("user", "customer", "member")
    date_hierarchy = "viewed_at"
    readonly_fields = [f.name for f in CustomerCardView._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
