"""Pages reachable without a login (the one-click unsubscribe link of marketing e-mail)."""

from django.urls import path

from outreach import public_views

app_name = "public"

urlpatterns = [
    path("<str:token>/", public_views.unsubscribe, name="unsubscribe"),
]
