from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Every page requires login (Django's own middleware), except the API and views marked
    ``@login_not_required`` (only the public unsubscribe page, ``outreach.public_views``: marking
    the view rather than exempting ``/unsubscribe/`` keeps anything else mounted there private).

    API views authenticate inside DRF (session or token) and refuse anonymous callers with 401/403
    through the default ``IsAuthenticated`` permission, so a redirect to the login page is wrong there.
    """

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
