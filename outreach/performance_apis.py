"""Agent performance over DRF (supervisors only)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import Campaign
from config.permissions import IsSupervisor
from outreach.models import Team
from outreach.performance import agent_performance
from outreach.performance_views import PerformanceFilterForm


class PerformanceRow(serializers.Serializer):
    """Counts and rates (percent; null without a base) of one agent, team or the total."""

    key = serializers.IntegerField(allow_null=True, help_text="User id or team id.")
    name = serializers.CharField()
    team = serializers.CharField(help_text="The agent's current team (empty for teams).")
    attempts = serializers.IntegerField()
    reached = serializers.IntegerField()
    conversions = serializers.IntegerField()
    contact_rate = serializers.FloatField(allow_null=True)
    conversion_rate = serializers.FloatField(allow_null=True, help_text="Conversions ÷ reached.")
    calls = serializers.IntegerField()
    average_handle_seconds = serializers.FloatField(allow_null=True)
    callbacks_due = serializers.IntegerField()
    callbacks_kept = serializers.IntegerField()
    callbacks_kept_rate = serializers.FloatField(allow_null=True)


class AgentPerformanceApi(APIView):
    """Per agent and per team from ``start`` to ``end`` (local dates, default: the last 30 days),
    optionally one ``team`` and one ``campaign``. Past days from the daily totals, later days
    live, so the numbers are current."""

    permission_classes = [IsSupervisor]

    class Input(serializers.Serializer):
        start = serializers.DateField(required=False)
        end = serializers.DateField(required=False)
        team = serializers.PrimaryKeyRelatedField(queryset=Team.objects.all(), required=False)
        campaign = serializers.PrimaryKeyRelatedField(
            queryset=Campaign.objects.all(), required=False
        )

    class Output(serializers.Serializer):
        start = serializers.DateField()
        end = serializers.DateField()
        rebuilt_through = serializers.DateField(
            allow_null=True, help_text="Last day read from the daily totals."
        )
        agents = PerformanceRow(many=True)
        teams = PerformanceRow(many=True)
        total = PerformanceRow()

    @extend_schema(parameters=[Input], responses=Output)
    def get(self, request):
        data = self.Input(data=request.query_params)
        data.is_valid(raise_exception=True)
        # The page's form holds the range rules (defaults, order, at most two years).
        form = PerformanceFilterForm(
            {
                key: request.query_params[key]
                for key in ("start", "end")
                if key in request.query_params
            }
        )
        if not form.is_valid():
            raise serializers.ValidationError(form.errors)
        campaign = data.validated_data.get("campaign")
        result = agent_performance(
            start=form.cleaned_data["start"],
            end=form.cleaned_data["end"],
            team=data.validated_data.get("team"),
            campaign_id=campaign.pk if campaign else None,
        )
        return Response(self.Output(result).data)
