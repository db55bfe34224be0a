from django.urls import path

from campaigns import apis

urlpatterns = [
    path("", apis.CampaignListApi.as_view(), name="api-campaign-list"),
    path("<int:campaign_id>/", apis.CampaignDetailApi.as_view(), name="api-campaign-detail"),
    path(
        "<int:campaign_id>/results/",
        apis.CampaignResultsApi.as_view(),
        name="api-campaign-results",
    ),
    path(
        "<int:campaign_id>/results/refresh/",
        apis.CampaignResultsRefreshApi.as_view(),
        name="api-campaign-results-refresh",
    ),
]
