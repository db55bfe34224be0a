"""Writes for the outreach side: roles (agent / supervisor / admin) and their permissions."""

from django.contrib.auth.models import Group, Permission
from django.db import transaction

from config.roles import ROLE_PERMISSIONS


@transaction.atomic
def roles_ensure() -> dict[str, int]:
    """Create or refresh the role groups with their permissions. Idempotent.

    Returns the number of permissions each group holds.
    """
    result: dict[str, int] = {}
    for role, apps in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        permissions = Permission.objects.none()
        for app_label, codenames in apps.items():
            app_permissions = Permission.objects.filter(content_type__app_label=app_label)
            if codenames != "*":
                app_permissions = app_permissions.filter(codename__in=codenames)
            permissions = permissions | app_permissions
        group.permissions.set(permissions)
        result[role] = group.permissions.count()
    return result


def roles_ensure_after_migrate(sender, app_config=None, **kwargs) -> None:
    # post_migrate fires once per app with models, each after that app's permissions are created;
    # refreshing every time is cheap and leaves the groups complete after the last app.
    roles_ensure()
