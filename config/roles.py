"""The three roles of the product, as Django groups, and the permissions each one holds."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

AGENT = "agent"
SUPERVISOR = "supervisor"
ADMIN = "admin"
ROLES = (AGENT, SUPERVISOR, ADMIN)

# app_label -> codenames; "*" means every permission of that app's models.
ROLE_PERMISSIONS: dict[str, dict[str, list[str] | str]] = {
    AGENT: {
        "customers": ["view_customer", "view_purchase"],
        "campaigns": ["view_campaign"],
        "outreach": [
            "view_disposition",
            "view_campaignmember",
            "add_contactattempt",
            "view_contactattempt",
        ],
    },
    SUPERVISOR: {
        "customers": "*",
        "campaigns": "*",
        "outreach": "*",
    },
    ADMIN: {
        "customers": "*",
        "campaigns": "*",
        "outreach": "*",
        "auth": "*",
        "authtoken": "*",
    },
}


def user_has_role(user: AbstractBaseUser | AnonymousUser, *roles: str) -> bool:
    """True for superusers and for members of any of ``roles``."""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    cache = getattr(user, "_role_names", None)
    if cache is None:
        cache = set(user.groups.values_list("name", flat=True))
        user._role_names = cache
    return bool(cache.intersection(roles))


def is_supervisor(user) -> bool:
    return user_has_role(user, SUPERVISOR, ADMIN)
