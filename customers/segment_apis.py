"""Segments, RFM scores, transitions and runs over DRF: input serializer -> service or selector ->
output serializer.

Reads shared with the pages live in ``customers.segmentation.selectors``; readable edges in
``customers.segmentation.display``.
"""

from __future__ import annotations

from celery.result import EagerResult
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from config.permissions import IsSupervisor
from customers.apis import _raise_drf, _valid_filters
from customers.filters import SegmentationRunFilter, SegmentMemberFilter, SegmentTransitionFilter
from customers.models import (
    Customer,
    CustomerRfm,
    Segment,
    SegmentationRun,
    SegmentTransition,
)
from customers.segmentation import selectors as segment_selectors
from customers.segmentation.display import edge_labels, method_label
from customers.segmentation.selectors import (
    default_matrix_runs,
    segment_preview,
    segmentation_run_list,
)
from customers.services.segments import segment_save, segmentation_start, unique_segment_key

# -- serializers -------------------------------------------------------------------------------


class SegmentRef(serializers.ModelSerializer):
    display_name = serializers.SerializerMethodField()

    class Meta:
        model = Segment
        fields = ["id", "key", "name", "name_ja", "display_name", "color"]

    def get_display_name(self, segment: Segment) -> str:
        return segment.display_name()


class SegmentOutput(serializers.ModelSerializer):
    display_name = serializers.SerializerMethodField()
    rule = serializers.SerializerMethodField()

    class Meta:
        model = Segment
        fields = [
            "id",
            "key",
            "name",
            "name_ja",
            "display_name",
            "description",
            "position",
            "is_active",
            "color",
            "conditions",
            "rule",
            "updated_at",
        ]

    def get_display_name(self, segment: Segment) -> str:
        return segment.display_name()

    def get_rule(self, segment: Segment) -> str:
        from customers.segmentation.conditions import describe_conditions

        return describe_conditions(segment.conditions)


class TrendPoint(serializers.Serializer):
    run = serializers.IntegerField()
    date = serializers.DateField()
    members = serializers.IntegerField()


class SegmentListItem(serializers.Serializer):
    segment = SegmentOutput()
    members = serializers.IntegerField()
    trend = TrendPoint(many=True)

    def to_representation(self, item):
        data = super().to_representation(item)
        return {**data.pop("segment"), "members": data["members"], "trend": data["trend"]}


class SegmentWithMembers(SegmentOutput):
    """What ``SegmentListItem`` writes (the segment's fields flattened): for the schema."""

    members = serializers.IntegerField()
    trend = TrendPoint(many=True)

    class Meta(SegmentOutput.Meta):
        fields = [*SegmentOutput.Meta.fields, "members", "trend"]


class SegmentInput(serializers.Serializer):
    key = serializers.SlugField(max_length=40, required=False)
    name = serializers.CharField(max_length=80)
    name_ja = serializers.CharField(max_length=80, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    position = serializers.IntegerField(min_value=0, required=False)
    is_active = serializers.BooleanField(required=False)
    color = serializers.RegexField(r"^#[0-9a-fA-F]{6}$", required=False)
    conditions = serializers.JSONField(required=False)


class SegmentationRunOutput(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)
    full = serializers.SerializerMethodField()

    class Meta:
        model = SegmentationRun
        fields = [
            "id",
            "cause",
            "reference_date",
            "method",
            "full",
            "parameters",
            "customers_scored",
            "customers_moved",
            "segment_counts",
            "timings",
            "started_at",
            "finished_at",
            "created_by",
        ]

    def get_full(self, run: SegmentationRun) -> bool:
        return bool(run.parameters.get("full"))


@extend_schema_serializer(component_name="SegmentMember")
class MemberOutput(serializers.ModelSerializer):
    external_id = serializers.CharField(source="customer.external_id")
    source = serializers.CharField(source="customer.source")
    name = serializers.CharField(source="customer.name")
    name_kana = serializers.CharField(source="customer.name_kana")
    prefecture = serializers.CharField(source="customer.prefecture")

    class Meta:
        model = CustomerRfm
        fields = [
            "customer",
            "external_id",
            "source",
            "name",
            "name_kana",
            "prefecture",
            "r",
            "f",
            "m",
            "recency_days",
            "frequency",
            "monetary",
            "purchase_count",
            "total_amount",
            "last_purchase_at",
            "segment_since",
        ]


class TransitionOutput(serializers.Serializer):
    id = serializers.IntegerField()
    customer = serializers.IntegerField(source="customer_id")
    run = serializers.IntegerField(source="run_id")
    from_segment = SegmentRef(allow_null=True)
    to_segment = SegmentRef(allow_null=True)
    cause = serializers.CharField()
    created_at = serializers.DateTimeField()


# -- views -------------------------------------------------------------------------------------


class SegmentListCreateApi(APIView):
    """Segments in rule order with their member count now and over the last full runs."""

    permission_classes = [IsSupervisor]
    pagination_class = PageNumberPagination  # read by the schema generator

    @extend_schema(responses=SegmentWithMembers(many=True))
    def get(self, request):
        items = segment_selectors.segment_list()
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(items, request, view=self)
        return paginator.get_paginated_response(SegmentListItem(page, many=True).data)

    @extend_schema(request=SegmentInput, responses={201: SegmentOutput})
    def post(self, request):
        data = SegmentInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        fields.setdefault("key", unique_segment_key(fields["name"]))
        fields.setdefault("conditions", {})
        try:
            segment = segment_save(**fields)
        except DjangoValidationError as error:
            _raise_conditions(error)
        return Response(SegmentOutput(segment).data, status=status.HTTP_201_CREATED)


def _raise_conditions(error: DjangoValidationError):
    """Condition errors come without a field: file them under ``conditions``."""
    if hasattr(error, "error_dict"):
        _raise_drf(error)
    raise ValidationError({"conditions": error.messages}) from error


class SegmentDetailApi(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(responses=SegmentOutput)
    def get(self, request, segment_id: int):
        segment = get_object_or_404(Segment, pk=segment_id)
        return Response(SegmentOutput(segment).data)

    @extend_schema(request=SegmentInput, responses=SegmentOutput)
    def patch(self, request, segment_id: int):
        segment = get_object_or_404(Segment, pk=segment_id)
        data = SegmentInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            segment = segment_save(segment=segment, **data.validated_data)
        except DjangoValidationError as error:
            _raise_conditions(error)
        return Response(SegmentOutput(segment).data)


class SegmentPreviewApi(APIView):
    """``{"conditions": {...}, "position": 35?, "segment": id?}`` -> how many it would take."""

    permission_classes = [IsSupervisor]

    class Input(serializers.Serializer):
        conditions = serializers.JSONField()
        position = serializers.IntegerField(min_value=0, required=False, allow_null=True)
        segment = serializers.PrimaryKeyRelatedField(
            queryset=Segment.objects.all(), required=False, allow_null=True
        )

    class Output(serializers.Serializer):
        matches = serializers.IntegerField()
        in_position = serializers.IntegerField()
        position = serializers.IntegerField(allow_null=True)
        rules_before = serializers.IntegerField()
        reference_date = serializers.DateField()

    @extend_schema(request=Input, responses=Output)
    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        segment = data.validated_data.get("segment")
        position = data.validated_data.get("position")
        if position is None and segment is not None:
            position = segment.position
        try:
            result = segment_preview(
                conditions=data.validated_data["conditions"], position=position, segment=segment
            )
        except DjangoValidationError as error:
            _raise_conditions(error)
        return Response(self.Output(result).data)


class SegmentMemberListApi(APIView):
    permission_classes = [IsSupervisor]
    # Read by the schema generator only (filters and pagination).
    queryset = CustomerRfm.objects.none()
    filter_backends = [DjangoFilterBackend]
    filterset_class = SegmentMemberFilter
    pagination_class = PageNumberPagination

    @extend_schema(responses=MemberOutput(many=True))
    def get(self, request, segment_id: int):
        segment = get_object_or_404(Segment, pk=segment_id)
        filters = _valid_filters(SegmentMemberFilter, request.query_params)
        members = segment_selectors.segment_member_list(segment=segment, filters=filters)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(members, request, view=self)
        return paginator.get_paginated_response(MemberOutput(page, many=True).data)


def _present(params) -> dict:
    """Query parameters that were given a value (``?r=`` means no filter)."""
    return {key: value for key, value in params.items() if value not in ("", None)}


def explain_data(explain: dict) -> dict:
    """The explanation of ``customer_explain`` as plain data (API and pages)."""
    rfm: CustomerRfm = explain["rfm"]
    edges = explain["edges"]
    return {
        "customer": rfm.customer_id,
        "reference_date": rfm.reference_date,
        "scored_at": rfm.scored_at,
        "scores": {"r": rfm.r, "f": rfm.f, "m": rfm.m},
        "values": {
            "recency_days": rfm.recency_days,
            "frequency": rfm.frequency,
            "monetary": rfm.monetary,
            "purchase_count": rfm.purchase_count,
            "total_amount": rfm.total_amount,
            "first_purchase_at": rfm.first_purchase_at,
            "last_purchase_at": rfm.last_purchase_at,
        },
        "segment": rfm.segment,
        "segment_since": rfm.segment_since,
        "method": explain["method"],
        "method_label": method_label(explain["method"]),
        "lookback_days": explain["lookback_days"],
        "edges": edges,
        "edge_labels": edge_labels(edges),
        "rules": explain["rules"],
        "winner": explain["winner"],
        # Rules edited since the last run: the stored segment is not what the rules now say.
        "stale": explain["winner"] != rfm.segment,
    }


class CustomerRfmApi(APIView):
    """A customer's scores, raw values, segment, the edges used and every rule tried."""

    permission_classes = [IsSupervisor]

    class Rule(serializers.Serializer):
        segment = SegmentRef()
        rule = serializers.CharField()
        matched = serializers.BooleanField()
        # {"path", "field", "op", "value", "label", "actual", "matched"} per condition
        checks = serializers.ListField(child=serializers.DictField())

    class Values(serializers.Serializer):
        recency_days = serializers.IntegerField(allow_null=True)
        frequency = serializers.IntegerField()
        monetary = serializers.DecimalField(max_digits=16, decimal_places=2)
        purchase_count = serializers.IntegerField()
        total_amount = serializers.DecimalField(max_digits=16, decimal_places=2)
        first_purchase_at = serializers.DateTimeField(allow_null=True)
        last_purchase_at = serializers.DateTimeField(allow_null=True)

    class Output(serializers.Serializer):
        customer = serializers.IntegerField()
        reference_date = serializers.DateField()
        scored_at = serializers.DateTimeField()
        scores = serializers.DictField(child=serializers.IntegerField(allow_null=True))
        values = serializers.SerializerMethodField()
        segment = SegmentRef(allow_null=True)
        segment_since = serializers.DateTimeField(allow_null=True)
        method = serializers.CharField(allow_null=True)
        lookback_days = serializers.IntegerField(allow_null=True)
        edges = serializers.JSONField(allow_null=True)
        edge_labels = serializers.DictField(child=serializers.ListField())
        rules = serializers.SerializerMethodField()
        winner = SegmentRef(allow_null=True)
        stale = serializers.BooleanField()

        def get_values(self, data) -> dict:
            return CustomerRfmApi.Values(data["values"]).data

        def get_rules(self, data) -> list:
            return CustomerRfmApi.Rule(data["rules"], many=True).data

    @extend_schema(responses=Output)
    def get(self, request, customer_id: int):
        customer = get_object_or_404(Customer, pk=customer_id)
        explain = segment_selectors.customer_explain(customer=customer)
        if explain is None:
            return Response(
                {"detail": _("This customer has not been scored yet.")},
                status=status.HTTP_404_NOT_FOUND,
            )
        return Response(self.Output(explain_data(explain)).data)


# For the schema: Output's method fields give the sibling serializers (out of scope in its body).
extend_schema_field(CustomerRfmApi.Values)(CustomerRfmApi.Output.get_values)
extend_schema_field(CustomerRfmApi.Rule(many=True))(CustomerRfmApi.Output.get_rules)


class SegmentTransitionListApi(APIView):
    permission_classes = [IsSupervisor]
    # Read by the schema generator only (filters and pagination).
    queryset = SegmentTransition.objects.none()
    filter_backends = [DjangoFilterBackend]
    filterset_class = SegmentTransitionFilter
    pagination_class = PageNumberPagination

    @extend_schema(responses=TransitionOutput(many=True))
    def get(self, request):
        filters = _valid_filters(SegmentTransitionFilter, request.query_params)
        rows = segment_selectors.transition_list(filters=filters)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(rows, request, view=self)
        return paginator.get_paginated_response(TransitionOutput(page, many=True).data)


class SegmentMatrixApi(APIView):
    """Customers per (segment after ``from_run``, segment after ``to_run``); default: the last
    two full runs."""

    permission_classes = [IsSupervisor]

    class Input(serializers.Serializer):
        from_run = serializers.PrimaryKeyRelatedField(
            queryset=SegmentationRun.objects.all(), required=False
        )
        to_run = serializers.PrimaryKeyRelatedField(
            queryset=SegmentationRun.objects.all(), required=False
        )

    class Row(serializers.Serializer):
        from_segment = SegmentRef(source="from", allow_null=True)
        cells = serializers.ListField(child=serializers.IntegerField())
        total = serializers.IntegerField()

    class Output(serializers.Serializer):
        from_run = SegmentationRunOutput()
        to_run = SegmentationRunOutput()
        segments = SegmentRef(many=True)
        rows = serializers.SerializerMethodField()
        moved = serializers.IntegerField()

        def get_rows(self, matrix) -> list:
            return SegmentMatrixApi.Row(matrix["rows"], many=True).data

    @extend_schema(parameters=[Input], responses=Output)
    def get(self, request):
        data = self.Input(data=_present(request.query_params))
        data.is_valid(raise_exception=True)
        default_from, default_to = default_matrix_runs()
        from_run = data.validated_data.get("from_run") or default_from
        to_run = data.validated_data.get("to_run") or default_to
        if from_run is None or to_run is None:
            raise ValidationError(
                {"detail": _("Two segmentation runs are needed to compare; run one more.")}
            )
        matrix = segment_selectors.migration_matrix(from_run=from_run, to_run=to_run)
        return Response(self.Output(matrix).data)


extend_schema_field(SegmentMatrixApi.Row(many=True))(SegmentMatrixApi.Output.get_rows)


class SegmentationRunListCreateApi(APIView):
    permission_classes = [IsSupervisor]
    # Read by the schema generator only (filters and pagination of the GET).
    queryset = SegmentationRun.objects.none()
    filter_backends = [DjangoFilterBackend]
    filterset_class = SegmentationRunFilter
    pagination_class = PageNumberPagination

    class StartOutput(serializers.Serializer):
        queued = serializers.BooleanField()
        run = SegmentationRunOutput(allow_null=True)

    @extend_schema(responses=SegmentationRunOutput(many=True))
    def get(self, request):
        runs = segmentation_run_list(
            filters=_valid_filters(SegmentationRunFilter, request.query_params)
        )
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(runs, request, view=self)
        return paginator.get_paginated_response(SegmentationRunOutput(page, many=True).data)

    @extend_schema(request=None, responses={202: StartOutput})
    def post(self, request):
        """Start a manual re-segmentation of everyone (queued; in-process when Celery is eager)."""
        result = segmentation_start()
        body: dict = {"queued": True, "run": None}
        if isinstance(result, EagerResult):
            run = SegmentationRun.objects.get(pk=result.get())
            body["run"] = SegmentationRunOutput(run).data
        return Response(body, status=status.HTTP_202_ACCEPTED)
