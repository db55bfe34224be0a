from django.urls import path

from customers import kpi_views, segment_views, views

app_name = "customers"

urlpatterns = [
    path("", views.customer_list, name="customer-list"),
    path("<int:customer_id>/", views.customer_detail, name="customer-detail"),
    path("imports/", views.import_list, name="import-list"),
    path("imports/<int:job_id>/", views.import_detail, name="import-detail"),
    path("imports/<int:job_id>/progress/", views.import_progress, name="import-progress"),
    path("imports/<int:job_id>/start/", views.import_start, name="import-start"),
    path("imports/<int:job_id>/errors.csv", views.import_errors_csv, name="import-errors-csv"),
    path("segments/", segment_views.segment_list, name="segment-list"),
    path("segments/new/", segment_views.segment_create, name="segment-create"),
    path("segments/matrix/", segment_views.segment_matrix, name="segment-matrix"),
    path("segments/preview/", segment_views.segment_preview_partial, name="segment-preview"),
    path("segments/resegment/", segment_views.segment_resegment, name="segment-resegment"),
    path("segments/<int:segment_id>/", segment_views.segment_detail, name="segment-detail"),
    path("<int:customer_id>/rfm/", segment_views.customer_rfm, name="customer-rfm"),
    path("kpis/", kpi_views.kpi_dashboard, name="kpis"),
    path("kpis/recompute/", kpi_views.kpi_recompute, name="kpis-recompute"),
    path("segments/movement/", kpi_views.segment_movement, name="segment-movement"),
]
