from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from config import views
from config.api_urls import api_not_found

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("customers/", include("customers.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("work/", include("outreach.urls")),
    path("unsubscribe/", include("outreach.public_urls")),
    path("api/", include("config.api_urls")),
    # Only paths ending in "/": without it CommonMiddleware may still redirect to the slashed URL.
    re_path(r"^api/(?:.*/)?$", api_not_found),
]

if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
