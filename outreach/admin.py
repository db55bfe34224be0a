from django import forms
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from config.admin_actions import ReadOnlyAdmin, action_form_step
from config.roles import ADMIN, user_has_role
from outreach.assignment import assignable_agents, members_reassign
from outreach.models import (
    AgentDailyStats,
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
    actions = ("reassign_members",)

    def has_add_permission(self, request) -> bool:
        return False  # members come from a launch

    @admin.action(description=_("Reassign selected open members to an agent"))
    def reassign_members(self, request, queryset):
        form, page = action_form_step(
            self,
            request,
            queryset,
            form_class=ReassignForm,
            action="reassign_members",
            title=gettext("Reassign members"),
            intro=gettext(
                "The agent you choose becomes the owner (担当者) of the selected members that are "
                "still open (queued or claimed); closed members keep theirs. A claim another "
                "agent holds right now stays with them until it is logged or released."
            ),
            submit_label=gettext("Reassign"),
        )
        if page is not None:
            return page
        agent = form.cleaned_data["agent"].user
        try:
            moved = members_reassign(members=queryset, agent=agent)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), level=messages.ERROR)
            return None
        self.message_user(
            request,
            ngettext(
                "%(count)d member reassigned to %(agent)s.",
                "%(count)d members reassigned to %(agent)s.",
                moved,
            )
            % {"count": moved, "agent": agent.get_username()},
            level=messages.SUCCESS,
        )
        return None


class ReassignForm(forms.Form):
    agent = forms.ModelChoiceField(label=_("Agent"), queryset=AgentProfile.objects.none())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["agent"]
        field.queryset = assignable_agents().order_by("team__name", "user__username")
        field.label_from_instance = _agent_label


def _agent_label(profile: AgentProfile) -> str:
    return f"{profile.user.get_username()} ({profile.team or '—'})"


@admin.register(ContactAttempt)
class ContactAttemptAdmin(ReadOnlyAdmin):
    """Read-only: outcomes are logged through the outcome service (outreach.outcomes)."""

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


@admin.register(CustomerCardView)
class CustomerCardViewAdmin(ReadOnlyAdmin):
    """The audit of customer-card views: read-only, for admins and supervisors."""

    deletable = False

    list_display = ("viewed_at", "user", "customer", "reason", "member", "ip_address")
    list_filter = ("reason",)
    search_fields = ("user__username", "customer__name", "customer__external_id")
    list_select_related = ("user", "customer", "member")
    date_hierarchy = "viewed_at"
    readonly_fields = [f.name for f in CustomerCardView._meta.fields]
    show_full_result_count = False


@admin.register(AgentDailyStats)
class AgentDailyStatsAdmin(ReadOnlyAdmin):
    """Read-only: rebuilt from the attempts by outreach.performance."""

    list_display = (
        "day",
        "agent",
        "campaign",
        "attempts",
        "reached",
        "conversions",
        "handle_seconds",
        "callbacks_due",
        "callbacks_kept",
        "computed_at",
    )
    list_filter = ("campaign", "day")
    search_fields = ("agent__username", "campaign__name")
    list_select_related = ("agent", "campaign")
    date_hierarchy = "day"
    show_full_result_count = False


@admin.register(LogEntry)
class LogEntryAdmin(ReadOnlyAdmin):
    """The audit log of changes made in the admin, read-only and for admins only (not
    supervisors): who changed what, when, and Django's summary of the change."""

    deletable = False

    list_display = (
        "action_time",
        "user",
        "content_type",
        "object_repr",
        "action_flag",
        "change_summary",
    )
    list_filter = ("action_flag", "content_type", "action_time")
    search_fields = ("object_repr", "change_message", "user__username")
    list_select_related = ("user", "content_type")
    date_hierarchy = "action_time"
    readonly_fields = [f.name for f in LogEntry._meta.fields]
    show_full_result_count = False

    @admin.display(description=_("change"))
    def change_summary(self, entry: LogEntry) -> str:
        return entry.get_change_message()

    def _is_admin(self, request) -> bool:
        return user_has_role(request.user, ADMIN)

    def has_module_permission(self, request) -> bool:
        return self._is_admin(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return self._is_admin(request)
