"""Retention KPIs and segment movement over DRF (supervisors only): input → selector → output."""

from __future__ import annotations

from django.db import transaction
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.permissions import IsSupervisor
from customers.kpis import KpiSnapshotFilter, segment_movement_trend
from customers.models import KpiSnapshot


class KpiSnapshotOutput(serializers.ModelSerializer):
    """One period's KPIs for one segment (``segment`` null: all customers). Rates in percent,
    null when there is nothing to divide by; see customers.kpis for the definitions."""

    segment_key = serializers.CharField(source="segment.key", default=None, allow_null=True)
    retention_rate = serializers.FloatField(allow_null=True, read_only=True)
    churn_rate = serializers.FloatField(allow_null=True, read_only=True)
    reactivation_rate = serializers.FloatField(allow_null=True, read_only=True)
    nps = serializers.FloatField(allow_null=True, read_only=True)

    class Meta:
        model = KpiSnapshot
        fields = [
            "period",
            "period_start",
            "period_end",
            "is_complete",
            "segment",
            "segment_key",
            "customers_at_start",
            "retained",
            "retention_rate",
            "lost",
            "churn_rate",
            "dormant_at_start",
            "reactivated",
            "reactivation_rate",
            "dormant_at_end",
            "nps_responses",
            "promoters",
            "detractors",
            "nps",
            "ltv_customers",
            "ltv_order_value",
            "ltv_margin",
            "ltv_net",
            "computed_at",
        ]
        read_only_fields = fields


class KpiListApi(generics.ListAPIView):
    """Retention KPIs per period: ``?period=month|week&start=&end=&segment=`` (default: months,
    all customers). Read from the nightly snapshots; ``computed_at`` says how fresh they are."""

    permission_classes = [IsSupervisor]
    serializer_class = KpiSnapshotOutput
    filter_backends = [DjangoFilterBackend]
    filterset_class = KpiSnapshotFilter
    queryset = KpiSnapshot.objects.none()

    def get_queryset(self):
        # KpiSnapshotFilter (the page's filters) is applied by the filter backend.
        return KpiSnapshot.objects.select_related("segment").order_by("period_start")


class KpiRecomputeApi(APIView):
    """Queue a rebuild of every KPI snapshot (202); the numbers change when it has run."""

    permission_classes = [IsSupervisor]

    class Output(serializers.Serializer):
        queued = serializers.BooleanField()

    @extend_schema(request=None, responses={202: Output})
    def post(self, request):
        from customers.tasks import kpi_snapshots_rebuild_task

        transaction.on_commit(kpi_snapshots_rebuild_task.delay)
        return Response(self.Output({"queued": True}).data, status=status.HTTP_202_ACCEPTED)


class SegmentMovementApi(APIView):
    """Customers moving into and out of dormant-lifecycle segments per week (default, last 26
    weeks) or per segmentation run (``?by=run``)."""

    permission_classes = [IsSupervisor]

    class Input(serializers.Serializer):
        by = serializers.ChoiceField(choices=["week", "run"], default="week", required=False)
        weeks = serializers.IntegerField(min_value=1, max_value=260, default=26, required=False)

    class Output(serializers.Serializer):
        key = serializers.CharField(help_text="Run id, or the Monday of the week.")
        day = serializers.DateField(help_text="Run reference date, or the Monday of the week.")
        into_dormant = serializers.IntegerField()
        out_of_dormant = serializers.IntegerField()
        moved = serializers.IntegerField(
            help_text="Changes of segment (first placements excluded)."
        )

    @extend_schema(parameters=[Input], responses=Output(many=True))
    def get(self, request):
        data = self.Input(data=request.query_params)
        data.is_valid(raise_exception=True)
        movements = segment_movement_trend(
            by=data.validated_data["by"], weeks=data.validated_data["weeks"]
        )
        return Response(self.Output(movements, many=True).data)
