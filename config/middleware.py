from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Every page requires login (Django's own middleware), except the API.

    API views authenticate inside DRF (session or token) and refuse anonymous callers with 401/403
    through the default ``IsAuthenticated`` permission, so a redirect to the login page is wrong there.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
