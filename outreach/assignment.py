"""Reassigning campaign members to another agent (the supervisor's hand on push assignment)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from outreach.models import AgentProfile, CampaignMember
from outreach.outcomes import OPEN


def assignable_agents() -> QuerySet[AgentProfile]:
    """Agents a member can be given to: active users with an agent profile."""
    return AgentProfile.objects.filter(user__is_active=True).select_related("user", "team")


@transaction.atomic
def members_reassign(*, members: QuerySet[CampaignMember], agent: AbstractBaseUser) -> int:
    """Make ``agent`` the owner (担当者) of the open members among ``members``; closed,
    converted and held-out members keep their owner (their history stays as it was).

    Only the owner changes: a claim another agent holds right now stays theirs until it is
    logged or released, and a personal callback stays with the agent who promised it.
    Returns how many members were reassigned.
    """
    if not agent.is_active or not AgentProfile.objects.filter(user=agent).exists():
        raise ValidationError(_("%(user)s is not an active agent.") % {"user": agent})
    return members.filter(status__in=OPEN).exclude(owner=agent).update(owner=agent)
