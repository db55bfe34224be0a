from functools import wraps

from django.core.exceptions import PermissionDenied

from config.roles import is_supervisor


def supervisor_required(view):
    """Pages for supervisors and admins; an agent gets 403 (login is enforced by middleware)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_supervisor(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper
