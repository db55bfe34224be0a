from django.urls import path

from customers import apis

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
]
