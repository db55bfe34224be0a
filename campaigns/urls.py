from django.urls import path

from campaigns import views

app_name = "campaigns"

urlpatterns = [
    path("", views.campaign_list, name="campaign-list"),
    path("<int:campaign_id>/", views.campaign_detail, name="campaign-detail"),
    path("<int:campaign_id>/results/", views.campaign_results_view, name="campaign-results"),
    path(
        "<int:campaign_id>/results/refresh/",
        views.campaign_results_refresh,
        name="campaign-results-refresh",
    ),
    path("<int:campaign_id>/state/", views.campaign_change_state, name="campaign-state"),
    path("<int:campaign_id>/launch/", views.campaign_launch, name="campaign-launch"),
    path(
        "<int:campaign_id>/launch/progress/",
        views.campaign_launch_progress,
        name="campaign-launch-progress",
    ),
    path(
        "<int:campaign_id>/eligibility/",
        views.campaign_eligibility,
        name="campaign-eligibility-lookup",
    ),
    path(
        "<int:campaign_id>/eligibility/<int:customer_id>/",
        views.campaign_eligibility,
        name="campaign-eligibility",
    ),
]
