from django.urls import path

from customers import apis, kpi_apis, segment_apis

urlpatterns = [
    path("", apis.CustomerListApi.as_view(), name="api-customer-list"),
    path("imports/", apis.ImportJobListCreateApi.as_view(), name="api-import-list"),
    path("imports/<int:job_id>/", apis.ImportJobDetailApi.as_view(), name="api-import-detail"),
    path(
        "imports/<int:job_id>/mapping/",
        apis.ImportJobMappingApi.as_view(),
        name="api-import-mapping",
    ),
    path("imports/<int:job_id>/start/", apis.ImportJobStartApi.as_view(), name="api-import-start"),
    path(
        "imports/<int:job_id>/errors/", apis.ImportJobErrorsApi.as_view(), name="api-import-errors"
    ),
    path(
        "import-templates/", apis.ImportTemplateListCreateApi.as_view(), name="api-import-templates"
    ),
    path("segments/", segment_apis.SegmentListCreateApi.as_view(), name="api-segment-list"),
    path(
        "segments/preview/",
        segment_apis.SegmentPreviewApi.as_view(),
        name="api-segment-preview",
    ),
    path(
        "segments/<int:segment_id>/",
        segment_apis.SegmentDetailApi.as_view(),
        name="api-segment-detail",
    ),
    path(
        "segments/<int:segment_id>/members/",
        segment_apis.SegmentMemberListApi.as_view(),
        name="api-segment-members",
    ),
    path("<int:customer_id>/rfm/", segment_apis.CustomerRfmApi.as_view(), name="api-customer-rfm"),
    path(
        "segment-transitions/",
        segment_apis.SegmentTransitionListApi.as_view(),
        name="api-segment-transitions",
    ),
    path("segment-matrix/", segment_apis.SegmentMatrixApi.as_view(), name="api-segment-matrix"),
    path("kpis/", kpi_apis.KpiListApi.as_view(), name="api-kpis"),
    path("kpis/recompute/", kpi_apis.KpiRecomputeApi.as_view(), name="api-kpis-recompute"),
    path("segment-movement/", kpi_apis.SegmentMovementApi.as_view(), name="api-segment-movement"),
    path(
        "segmentation-runs/",
        segment_apis.SegmentationRunListCreateApi.as_view(),
        name="api-segmentation-runs",
    ),
]
