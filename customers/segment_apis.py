"""Segments, RFM scores, transitions and runs over DRF: input serializer -> service or selector ->
output serializer.

The few reads shared with the pages (preview counts, run lists, readable edges) live at the top
of this module, like ``errors_csv_response`` in ``customers.apis``.
"""

from __future__ import annotations

import datetime as dt

from celery.result import EagerResult
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import BigIntegerField, Case, Q, QuerySet, Value, When
from django.shortcuts import get_object_or_404
from django.utils import formats, timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from config.permissions import IsSupervisor
from customers.apis import _raise_drf
from customers.models import (
    Customer,
    CustomerRfm,
    RfmMethod,
    Segment,
    SegmentationRun,
)
from customers.segmentation import selectors as segment_selectors
from customers.segmentation.conditions import conditions_to_q, validate_conditions
from customers.services.segments import segment_save

# -- reads shared by the pages and the API ---------------------------------------------------


def latest_reference_date() -> dt.date:
    """The reference date of the current scores (today when nobody has been scored yet)."""
    latest = (
        CustomerRfm.objects.order_by("-reference_date")
        .values_list("reference_date", flat=True)
        .first()
    )
    return latest or timezone.localdate()


def _match(conditions: dict, reference_date: dt.date) -> Q:
    q = conditions_to_q(conditions, reference_date=reference_date)
    # An empty rule matches everyone; When() refuses an empty Q.
    return q if not isinstance(q, Q) or q else Q(pk__isnull=False)


def segment_preview(
    *, conditions: dict, position: int | None = None, segment: Segment | None = None
) -> dict:
    """How many scored customers ``conditions`` would take on their own, and in ``position``
    given the active rules tried before it (``None``: after every active rule).

    Raises the ConditionError of ``validate_conditions`` for a bad rule.
    """
    validate_conditions(conditions)
    reference_date = latest_reference_date()
    rule = _match(conditions, reference_date)
    alone = CustomerRfm.objects.filter(rule).count()
    before = Segment.objects.filter(is_active=True)
    if segment is not None and segment.pk:
        before = before.exclude(pk=segment.pk)
    if position is not None:
        ahead = Q(position__lt=position)
        # Equal positions are tried by id; a new segment gets the highest id.
        if segment is not None and segment.pk:
            ahead |= Q(position=position, pk__lt=segment.pk)
        else:
            ahead |= Q(position=position)
        before = before.filter(ahead)
    whens = [
        When(_match(s.conditions, reference_date), then=Value(s.pk))
        for s in before.order_by("position", "id")
    ]
    whens.append(When(rule, then=Value(0)))  # segment ids start at 1: 0 marks "this rule"
    in_position = (
        CustomerRfm.objects.annotate(
            preview_pick=Case(*whens, default=Value(None), output_field=BigIntegerField())
        )
        .filter(preview_pick=0)
        .count()
    )
    return {
        "matches": alone,
        "in_position": in_position,
        "position": position,
        "rules_before": len(whens) - 1,
        "reference_date": reference_date,
    }


def segmentation_run_list() -> QuerySet[SegmentationRun]:
    return SegmentationRun.objects.select_related("created_by").order_by("-started_at", "-id")


def full_run_list() -> QuerySet[SegmentationRun]:
    """Finished full runs, newest first (the ones a migration matrix compares)."""
    return SegmentationRun.objects.filter(
        parameters__full=True, finished_at__isnull=False
    ).order_by("-finished_at", "-id")


def default_matrix_runs() -> tuple[SegmentationRun | None, SegmentationRun | None]:
    """The last two full runs as (from, to)."""
    runs = list(full_run_list()[:2])
    if len(runs) < 2:
        return None, (runs[0] if runs else None)
    return runs[1], runs[0]


def unique_segment_key(name: str) -> str:
    """A free slug for a new segment (names are often Japanese: fall back to ``segment-N``)."""
    base = slugify(name)[:32] or "segment"
    key, n = base, 1
    while Segment.objects.filter(key=key).exists():
        n += 1
        key = f"{base}-{n}"
    return key


def _number(value) -> str:
    value = float(value)
    return formats.number_format(
        int(value) if value.is_integer() else round(value, 2), use_l10n=True, force_grouping=True
    )


def edge_labels(edges: dict | None) -> dict[str, list[str]]:
    """Readable edges per dimension, best score first: ``R5: ≤ 12 days``, ``F2: ≥ 2 orders``.

    ``edges`` holds the thresholds for scores 2..5 (see ``customers.segmentation.scoring``).
    """
    if not edges:
        return {"r": [], "f": [], "m": []}
    labels: dict[str, list[str]] = {"r": [], "f": [], "m": []}
    for score in (5, 4, 3, 2):
        edge = edges["r"][score - 2]
        labels["r"].append(
            _("R%(score)s: ≤ %(days)s days") % {"score": score, "days": _number(edge)}
            if edge is not None
            else _("R%(score)s: not reached") % {"score": score}
        )
    labels["r"].append(_("R1: the rest"))
    units = {
        "f": lambda score, edge: (
            _("F%(score)s: ≥ %(orders)s orders") % {"score": score, "orders": _number(edge)}
        ),
        "m": lambda score, edge: (
            _("M%(score)s: ≥ %(amount)s") % {"score": score, "amount": _number(edge)}
        ),
    }
    for dim in ("f", "m"):
        for score in (5, 4, 3, 2):
            edge = edges[dim][score - 2]
            labels[dim].append(
                units[dim](score, edge)
                if edge is not None
                else _("%(dim)s%(score)s: not reached") % {"dim": dim.upper(), "score": score}
            )
        labels[dim].append(_("%(dim)s1: the rest") % {"dim": dim.upper()})
    return labels


def method_label(method: str | None) -> str:
    if not method:
        return ""
    try:
        return str(RfmMethod(method).label)
    except ValueError:
        return method


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
    created_by = serializers.CharField(source="created_by.username", default=None)
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

    def get(self, request):
        items = segment_selectors.segment_list()
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(items, request, view=self)
        return paginator.get_paginated_response(SegmentListItem(page, many=True).data)

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

    def get(self, request, segment_id: int):
        segment = get_object_or_404(Segment, pk=segment_id)
        return Response(SegmentOutput(segment).data)

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

    class Filters(serializers.Serializer):
        q = serializers.CharField(required=False, allow_blank=True)
        prefecture = serializers.CharField(required=False, allow_blank=True)
        r = serializers.IntegerField(required=False, min_value=1, max_value=5)
        f = serializers.IntegerField(required=False, min_value=1, max_value=5)
        m = serializers.IntegerField(required=False, min_value=1, max_value=5)

    def get(self, request, segment_id: int):
        segment = get_object_or_404(Segment, pk=segment_id)
        filters = self.Filters(data=_present(request.query_params))
        filters.is_valid(raise_exception=True)
        members = segment_selectors.segment_member_list(
            segment=segment, filters=filters.validated_data
        )
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

    def get(self, request, customer_id: int):
        customer = get_object_or_404(Customer, pk=customer_id)
        explain = segment_selectors.customer_explain(customer=customer)
        if explain is None:
            return Response(
                {"detail": _("This customer has not been scored yet.")},
                status=status.HTTP_404_NOT_FOUND,
            )
        return Response(self.Output(explain_data(explain)).data)


class SegmentTransitionListApi(APIView):
    permission_classes = [IsSupervisor]

    class Filters(serializers.Serializer):
        customer = serializers.IntegerField(required=False, min_value=1)
        run = serializers.IntegerField(required=False, min_value=1)
        from_segment = serializers.IntegerField(required=False, min_value=1)
        to_segment = serializers.IntegerField(required=False, min_value=1)

    def get(self, request):
        filters = self.Filters(data=_present(request.query_params))
        filters.is_valid(raise_exception=True)
        rows = segment_selectors.transition_list(filters=filters.validated_data)
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


class SegmentationRunListCreateApi(APIView):
    permission_classes = [IsSupervisor]

    def get(self, request):
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(segmentation_run_list(), request, view=self)
        return paginator.get_paginated_response(SegmentationRunOutput(page, many=True).data)

    def post(self, request):
        """Start a manual re-segmentation of everyone (queued; in-process when Celery is eager)."""
        result = start_manual_run()
        body: dict = {"queued": True, "run": None}
        if isinstance(result, EagerResult):
            run = SegmentationRun.objects.get(pk=result.get())
            body["run"] = SegmentationRunOutput(run).data
        return Response(body, status=status.HTTP_202_ACCEPTED)


def start_manual_run(cause: str = SegmentationRun.Cause.MANUAL):
    from customers.tasks import segmentation_run_task

    return segmentation_run_task.delay(str(cause))
