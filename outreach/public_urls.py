"""Pages reachable without a login (the one-click unsubscribe link of marketing e-mail)."""

app_name = "public"

urlpatterns: list = []
