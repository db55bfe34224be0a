from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.models import Campaign, CampaignResultSnapshot, CampaignState
from campaigns.services import EDITABLE_STATES, campaign_transition
from config.admin_actions import ReadOnlyAdmin
from customers.segmentation.conditions import validate_conditions


class CampaignAdminForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = "__all__"  # noqa: DJ007 - the admin shows every editable field

    def clean_extra_filters(self):
        value = self.cleaned_data.get("extra_filters") or {}
        validate_conditions(value)
        return value


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignAdminForm
    list_display = ("name", "kind", "channel", "state", "starts_on", "ends_on", "priority")
    list_filter = ("kind", "channel", "state")
    search_fields = ("name", "product")
    filter_horizontal = ("target_segments",)
    readonly_fields = (
        "state",
        "holdout_seed",
        "launched_at",
        "created_by",
        "created_at",
        "updated_at",
    )
    actions = ("launch_campaigns", "pause_campaigns", "resume_campaigns")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.state not in EDITABLE_STATES:
            # Only draft and paused campaigns may be edited (same rule as campaign_update).
            return [f.name for f in Campaign._meta.fields] + ["target_segments"]
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def _each(self, request, queryset, act, done_message: str) -> None:
        """``act(campaign)`` on every selected campaign; a refusal is reported per campaign."""
        for campaign in queryset.order_by("pk"):
            try:
                act(campaign)
            except ValidationError as error:
                self.message_user(
                    request,
                    _("“%(name)s”: %(error)s")
                    % {"name": campaign, "error": " ".join(error.messages)},
                    level=messages.ERROR,
                )
            else:
                self.message_user(
                    request, done_message % {"name": campaign}, level=messages.SUCCESS
                )

    def _transition_all(self, request, queryset, to_state: str, done_message: str) -> None:
        self._each(
            request,
            queryset,
            lambda campaign: campaign_transition(
                campaign=campaign, to_state=to_state, by=request.user
            ),
            done_message,
        )

    @admin.action(description=gettext_lazy("Launch selected scheduled campaigns"))
    def launch_campaigns(self, request, queryset):
        from outreach.launch import campaign_launch_start

        self._each(
            request,
            queryset,
            lambda campaign: campaign_launch_start(campaign=campaign, by=request.user),
            _("“%(name)s”: launch started."),
        )

    @admin.action(description=gettext_lazy("Pause selected campaigns"))
    def pause_campaigns(self, request, queryset):
        self._transition_all(request, queryset, CampaignState.PAUSED, _("“%(name)s” paused."))

    @admin.action(description=gettext_lazy("Resume selected campaigns"))
    def resume_campaigns(self, request, queryset):
        self._transition_all(request, queryset, CampaignState.RUNNING, _("“%(name)s” resumed."))


@admin.register(CampaignResultSnapshot)
class CampaignResultSnapshotAdmin(ReadOnlyAdmin):
    """Read-only: the pre-aggregated campaign results, refreshed by campaigns.results."""

    list_display = (
        "campaign",
        "window_days",
        "window_start",
        "window_end",
        "computed_at",
        "duration_ms",
    )
    list_filter = ("window_days", "campaign")
    search_fields = ("campaign__name",)
    list_select_related = ("campaign",)
    date_hierarchy = "computed_at"
    readonly_fields = [f.name for f in CampaignResultSnapshot._meta.fields]
