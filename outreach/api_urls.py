from django.urls import path

from outreach import apis, performance_apis

urlpatterns = [
    path("claims/next/", apis.ClaimNextApi.as_view(), name="api-claim-next"),
    path("claims/<int:member_id>/verify/", apis.ClaimVerifyApi.as_view(), name="api-claim-verify"),
    path(
        "claims/<int:member_id>/release/", apis.ClaimReleaseApi.as_view(), name="api-claim-release"
    ),
    path("attempts/", apis.ContactAttemptCreateApi.as_view(), name="api-attempt-create"),
    path(
        "agent-performance/",
        performance_apis.AgentPerformanceApi.as_view(),
        name="api-agent-performance",
    ),
    path(
        "members/<int:member_id>/callback/",
        apis.CallbackScheduleApi.as_view(),
        name="api-callback-schedule",
    ),
    path(
        "campaigns/<int:campaign_id>/launch/",
        apis.CampaignLaunchApi.as_view(),
        name="api-campaign-launch",
    ),
    path(
        "campaigns/<int:campaign_id>/queue/",
        apis.CampaignQueueApi.as_view(),
        name="api-campaign-queue",
    ),
    path(
        "campaigns/<int:campaign_id>/eligibility/<int:customer_id>/",
        apis.EligibilityTraceApi.as_view(),
        name="api-eligibility-trace",
    ),
]
