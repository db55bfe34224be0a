from django.http import JsonResponse
from django.urls import include, path
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView


@csrf_exempt  # like DRF's views: otherwise a POST here is a CSRF page, not this 404
def api_not_found(request, *args, **kwargs):
    """A URL under /api/ that matches no endpoint: a JSON 404 like DRF's, not the HTML page
    (mounted last in config/urls.py, after every API route)."""
    return JsonResponse({"detail": _("Not found.")}, status=404)


urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("customers/", include("customers.api_urls")),
    path("campaigns/", include("campaigns.api_urls")),
    path("outreach/", include("outreach.api_urls")),
]
