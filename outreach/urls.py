from django.urls import path

from outreach import performance_views, views

app_name = "outreach"

urlpatterns = [
    path("", views.work_home, name="work"),
    path("next/", views.work_next, name="work-next"),
    path("members/<int:member_id>/", views.work_card, name="work-card"),
    path("members/<int:member_id>/outcome/", views.work_outcome, name="work-outcome"),
    path("members/<int:member_id>/release/", views.work_release, name="work-release"),
    path("members/<int:member_id>/send-email/", views.work_send_email, name="work-send-email"),
    path("customers/<int:customer_id>/", views.customer_card, name="customer-card"),
    path("performance/", performance_views.agent_performance_page, name="performance"),
]
