from rest_framework.permissions import BasePermission

from config.roles import is_supervisor


class IsSupervisor(BasePermission):
    """Supervisors and admins only; agents get 403."""

    message = "Supervisor role required."

    def has_permission(self, request, view) -> bool:
        return is_supervisor(request.user)
