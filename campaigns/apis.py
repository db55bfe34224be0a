"""Campaigns over DRF for supervisors: list (filterable), detail, results for a window and
"refresh now". Input serializer → selector/service → output serializer."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView, RetrieveAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.filters import CampaignFilter
from campaigns.models import Campaign
from campaigns.results import (
    DEFAULT_WINDOW_DAYS,
    MAX_WINDOW_DAYS,
    CampaignResults,
    campaign_results,
    campaign_results_refresh,
)
from campaigns.selectors import campaign_list
from config.permissions import IsSupervisor

# -- serializers -------------------------------------------------------------------------------


class CampaignOutput(serializers.ModelSerializer):
    target_segments = serializers.SlugRelatedField(slug_field="key", many=True, read_only=True)

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "kind",
            "channel",
            "state",
            "priority",
            "product",
            "starts_on",
            "ends_on",
            "launched_at",
            "holdout_percent",
            "assignment_mode",
            "cost_per_call",
            "cost_per_email",
            "target_segments",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WindowInput(serializers.Serializer):
    window_days = serializers.IntegerField(
        min_value=1, max_value=MAX_WINDOW_DAYS, default=DEFAULT_WINDOW_DAYS, required=False
    )


class IntervalOutput(serializers.Serializer):
    estimate = serializers.FloatField()
    lower = serializers.FloatField()
    upper = serializers.FloatField()


class GroupOutcomeOutput(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    members = serializers.IntegerField()
    buyers = serializers.IntegerField()
    repurchase_rate = serializers.FloatField(allow_null=True)
    revenue = serializers.FloatField()
    revenue_per_member = serializers.FloatField(allow_null=True)


class DayPointOutput(serializers.Serializer):
    day = serializers.IntegerField()
    date = serializers.DateField()
    attempts = serializers.IntegerField()
    reached = serializers.IntegerField()
    converted = serializers.IntegerField()
    treatment_rate = serializers.FloatField(allow_null=True)
    holdout_rate = serializers.FloatField(allow_null=True)
    lift = serializers.FloatField(allow_null=True)


class CampaignResultsOutput(serializers.Serializer):
    campaign = serializers.IntegerField(source="campaign.pk")
    window_days = serializers.IntegerField()
    window_start = serializers.DateTimeField(allow_null=True)
    window_end = serializers.DateTimeField(allow_null=True)
    computed_at = serializers.DateTimeField(help_text="When the snapshot was computed.")
    treatment = serializers.IntegerField()
    holdout = serializers.IntegerField()
    attempted = serializers.IntegerField()
    reached = serializers.IntegerField()
    converted = serializers.IntegerField()
    waiting = serializers.IntegerField()
    attempts = serializers.IntegerField()
    contact_rate = serializers.FloatField(allow_null=True, help_text="reached ÷ attempted")
    conversion_rate_reached = serializers.FloatField(
        allow_null=True, help_text="converted ÷ reached"
    )
    conversion_rate_treatment = serializers.FloatField(
        allow_null=True, help_text="converted ÷ treatment members"
    )
    attempts_per_member = serializers.FloatField(allow_null=True)
    list_penetration = serializers.FloatField(allow_null=True)
    daily_attempt_rate = serializers.FloatField()
    exhaustion_days = serializers.IntegerField(allow_null=True)
    exhaustion_date = serializers.DateField(allow_null=True)
    average_handle_seconds = serializers.FloatField(allow_null=True)
    groups = serializers.SerializerMethodField()
    lift = IntervalOutput(
        allow_null=True,
        help_text="ITT repurchase lift (treatment − holdout), Newcombe hybrid score 95% CI; "
        "null when not measurable.",
    )
    lift_verdict = serializers.CharField()
    revenue_lift = IntervalOutput(
        allow_null=True, help_text="Revenue per member difference, Welch normal 95% CI."
    )
    incremental_purchasers = serializers.FloatField(allow_null=True)
    incremental_revenue = serializers.FloatField(allow_null=True)
    contact_cost = serializers.DecimalField(max_digits=16, decimal_places=2, allow_null=True)
    cost_per_incremental_purchase = serializers.FloatField(allow_null=True)
    series = DayPointOutput(many=True)

    @extend_schema_field(GroupOutcomeOutput(many=True))
    def get_groups(self, results: CampaignResults) -> list[dict]:
        return GroupOutcomeOutput(list(results.groups.values()), many=True).data


class RefreshOutput(serializers.Serializer):
    campaign = serializers.IntegerField()
    window_days = serializers.IntegerField()
    computed_at = serializers.DateTimeField()
    duration_ms = serializers.IntegerField()


# -- views -------------------------------------------------------------------------------------


class CampaignListApi(ListAPIView):
    permission_classes = [IsSupervisor]
    serializer_class = CampaignOutput
    filter_backends = [DjangoFilterBackend]
    filterset_class = CampaignFilter

    def get_queryset(self):
        # Filtering happens in the backend with the same FilterSet the page uses.
        return campaign_list().prefetch_related("target_segments")


class CampaignDetailApi(RetrieveAPIView):
    permission_classes = [IsSupervisor]
    serializer_class = CampaignOutput
    lookup_url_kwarg = "campaign_id"

    def get_queryset(self):
        return Campaign.objects.prefetch_related("target_segments")


def _window(data) -> int:
    serializer = WindowInput(data=data)
    if not serializer.is_valid():
        raise ValidationError(serializer.errors)
    return serializer.validated_data.get("window_days", DEFAULT_WINDOW_DAYS)


class CampaignResultsApi(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "window_days", int, description="Attribution window in days (1-366, default 30)."
            )
        ],
        responses=CampaignResultsOutput,
    )
    def get(self, request, campaign_id: int):
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        results = campaign_results(campaign=campaign, window_days=_window(request.query_params))
        return Response(CampaignResultsOutput(results).data)


class CampaignResultsRefreshApi(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(request=WindowInput, responses={201: RefreshOutput})
    def post(self, request, campaign_id: int):
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        snapshot = campaign_results_refresh(campaign=campaign, window_days=_window(request.data))
        return Response(
            RefreshOutput(
                {
                    "campaign": campaign.pk,
                    "window_days": snapshot.window_days,
                    "computed_at": snapshot.computed_at,
                    "duration_ms": snapshot.duration_ms,
                }
            ).data,
            status=status.HTTP_201_CREATED,
        )
