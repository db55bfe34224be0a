from django.urls import include, path

urlpatterns = [
    path("customers/", include("customers.api_urls")),
    path("campaigns/", include("campaigns.api_urls")),
    path("outreach/", include("outreach.api_urls")),
]
