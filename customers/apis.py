"""Thin DRF endpoints: input serializer -> service or selector -> output serializer."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from config.permissions import IsSupervisor
from customers import selectors
from customers.filters import (
    CustomerFilter,
    ImportJobFilter,
    ImportRowErrorFilter,
    ImportTemplateFilter,
)
from customers.models import Customer, ImportJob, ImportKind, ImportRowError, ImportTemplate
from customers.services import imports as import_services


def _raise_drf(error: DjangoValidationError):
    detail = error.message_dict if hasattr(error, "error_dict") else error.messages
    raise ValidationError(detail) from error


def _valid_filters(filterset_class, params) -> dict:
    """Query parameters checked by ``filterset_class``: a bad value is a 400, not ignored."""
    filterset = filterset_class(params, queryset=filterset_class._meta.model.objects.none())
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return params


class ImportJobOutput(serializers.ModelSerializer):
    progress_percent = serializers.IntegerField(read_only=True)
    counts_reconcile = serializers.BooleanField(read_only=True)
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "kind",
            "state",
            "phase",
            "dry_run",
            "original_name",
            "file_size",
            "file_format",
            "encoding",
            "delimiter",
            "headers",
            "mapping",
            "match_by",
            "source",
            "rows_total",
            "rows_processed",
            "progress_percent",
            "created_count",
            "updated_count",
            "unchanged_count",
            "error_count",
            "duplicate_rows",
            "counts_reconcile",
            "preview",
            "timings",
            "failure",
            "attempts",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]


class ImportJobListCreateApi(APIView):
    permission_classes = [IsSupervisor]
    # Read by the schema generator only (filters and pagination of the GET).
    queryset = ImportJob.objects.none()
    filter_backends = [DjangoFilterBackend]
    filterset_class = ImportJobFilter
    pagination_class = PageNumberPagination

    class Input(serializers.Serializer):
        kind = serializers.ChoiceField(choices=ImportKind.choices)
        file = serializers.FileField()
        source = serializers.CharField(required=False, max_length=64, default="default")
        template = serializers.PrimaryKeyRelatedField(
            queryset=ImportTemplate.objects.all(), required=False, allow_null=True
        )

    @extend_schema(responses=ImportJobOutput(many=True))
    def get(self, request):
        jobs = selectors.import_job_list(filters=request.query_params)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(ImportJobOutput(page, many=True).data)

    @extend_schema(request={"multipart/form-data": Input}, responses={201: ImportJobOutput})
    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = import_services.import_job_create(created_by=request.user, **data.validated_data)
        except DjangoValidationError as error:
            _raise_drf(error)
        return Response(ImportJobOutput(job).data, status=status.HTTP_201_CREATED)


class ImportJobDetailApi(APIView):
    permission_classes = [IsSupervisor]

    @extend_schema(responses=ImportJobOutput)
    def get(self, request, job_id: int):
        job = get_object_or_404(ImportJob, pk=job_id)
        return Response(ImportJobOutput(job).data)


class ImportJobMappingApi(APIView):
    permission_classes = [IsSupervisor]

    class Input(serializers.Serializer):
        mapping = serializers.DictField(child=serializers.CharField(allow_blank=True))
        match_by = serializers.ListField(child=serializers.CharField(), required=False)
        source = serializers.CharField(required=False, max_length=64)

    @extend_schema(request=Input, responses=ImportJobOutput)
    def post(self, request, job_id: int):
        job = get_object_or_404(ImportJob, pk=job_id)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = import_services.import_job_configure(job=job, **data.validated_data)
        except DjangoValidationError as error:
            _raise_drf(error)
        return Response(ImportJobOutput(job).data)


class ImportJobStartApi(APIView):
    permission_classes = [IsSupervisor]

    class Input(serializers.Serializer):
        dry_run = serializers.BooleanField(default=False)

    @extend_schema(request=Input, responses={202: ImportJobOutput})
    def post(self, request, job_id: int):
        job = get_object_or_404(ImportJob, pk=job_id)
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            job = import_services.import_job_start(job=job, dry_run=data.validated_data["dry_run"])
        except DjangoValidationError as error:
            _raise_drf(error)
        job.refresh_from_db()
        return Response(ImportJobOutput(job).data, status=status.HTTP_202_ACCEPTED)


class ImportRowErrorOutput(serializers.Serializer):
    row_number = serializers.IntegerField()
    column = serializers.CharField()
    value = serializers.CharField()
    code = serializers.CharField()
    message = serializers.CharField()


class ImportJobErrorsApi(ListAPIView):
    """Rejected rows of a job; ``?download=csv`` streams all of them as CSV."""

    permission_classes = [IsSupervisor]
    serializer_class = ImportRowErrorOutput
    filterset_class = ImportRowErrorFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no job in the URL
            return ImportRowError.objects.none()
        job = get_object_or_404(ImportJob, pk=self.kwargs["job_id"])
        return selectors.import_row_error_list(job=job)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "download",
                enum=["csv"],
                description="`csv`: every rejected row as a CSV file instead of a page of JSON.",
            )
        ],
        responses={
            (200, "application/json"): ImportRowErrorOutput(many=True),
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV download"),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def list(self, request, *args, **kwargs):
        if request.query_params.get("download") == "csv":
            job = get_object_or_404(ImportJob, pk=self.kwargs["job_id"])
            return errors_csv_response(job)
        return super().list(request, *args, **kwargs)


def errors_csv_response(job: ImportJob) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        selectors.import_row_errors_csv(job=job), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
    return response


class ImportTemplateOutput(serializers.ModelSerializer):
    class Meta:
        model = ImportTemplate
        fields = ["id", "name", "kind", "mapping", "match_by", "created_at"]


class ImportTemplateListCreateApi(APIView):
    permission_classes = [IsSupervisor]
    # Read by the schema generator only (filters of the GET).
    queryset = ImportTemplate.objects.none()
    filter_backends = [DjangoFilterBackend]
    filterset_class = ImportTemplateFilter

    class Input(serializers.Serializer):
        job = serializers.PrimaryKeyRelatedField(queryset=ImportJob.objects.all())
        name = serializers.CharField(max_length=120)

    @extend_schema(responses=ImportTemplateOutput(many=True))
    def get(self, request):
        filters = _valid_filters(ImportTemplateFilter, request.query_params)
        templates = selectors.import_template_list(filters=filters)
        return Response(ImportTemplateOutput(templates, many=True).data)

    @extend_schema(request=Input, responses={201: ImportTemplateOutput})
    def post(self, request):
        data = self.Input(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            template = import_services.import_template_save(
                created_by=request.user, **data.validated_data
            )
        except DjangoValidationError as error:
            _raise_drf(error)
        return Response(ImportTemplateOutput(template).data, status=status.HTTP_201_CREATED)


class CustomerOutput(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = [
            "id",
            "source",
            "external_id",
            "name",
            "name_kana",
            "email",
            "phone",
            "mobile_phone",
            "birth_date",
            "gender",
            "postal_code",
            "prefecture",
            "address",
            "country",
            "time_zone",
            "attributes",
            "tags",
            "created_at",
            "updated_at",
        ]


class CustomerListApi(ListAPIView):
    permission_classes = [IsSupervisor]
    serializer_class = CustomerOutput
    filterset_class = CustomerFilter

    def get_queryset(self):
        return selectors.customer_list()
