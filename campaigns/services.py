"""Writes for campaigns: create, edit while allowed, and move between states."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.models import Campaign, CampaignState
from customers.models import Channel, Segment
from customers.segmentation.conditions import validate_conditions

S = CampaignState

# The one place that says which state changes are allowed.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.SCHEDULED}),
    S.SCHEDULED: frozenset({S.DRAFT, S.RUNNING}),
    S.RUNNING: frozenset({S.PAUSED, S.COMPLETED}),
    S.PAUSED: frozenset({S.RUNNING, S.COMPLETED}),
    S.COMPLETED: frozenset(),
}

EDITABLE_STATES = frozenset({S.DRAFT, S.PAUSED})

# Fields only the services set; never through create/update keyword arguments.
PROTECTED_FIELDS = frozenset(
    {"id", "pk", "state", "holdout_seed", "created_by", "created_at", "updated_at"}
)

CALL_REQUIRED = {
    "disclosure_company": gettext_lazy("disclosure: company name"),
    "disclosure_product": gettext_lazy("disclosure: product or service"),
    "disclosure_purpose": gettext_lazy("disclosure: purpose of the call"),
}
EMAIL_REQUIRED = {
    "email_subject": gettext_lazy("e-mail subject"),
    "email_body": gettext_lazy("e-mail body"),
    "sender_name": gettext_lazy("sender name"),
    "sender_postal_address": gettext_lazy("sender postal address"),
    "sender_contact": gettext_lazy("sender contact"),
}


def _state_label(state: str) -> str:
    try:
        return str(S(state).label)
    except ValueError:
        return str(state)


def _check_time_zone(name: Any) -> None:
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationError(
            {"time_zone": _("“%(zone)s” is not a known time zone.") % {"zone": name}}
        ) from error


def _check_blocked_dates(values: Any) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list | tuple):
        raise ValidationError({"blocked_dates": _("Blocked dates must be a list of dates.")})
    result = []
    for value in values:
        try:
            day = value if isinstance(value, date) else date.fromisoformat(str(value))
        except ValueError as error:
            raise ValidationError(
                {"blocked_dates": _("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": value}}
            ) from error
        result.append(day.isoformat())
    return sorted(set(result))


def _apply_fields(campaign: Campaign, fields: dict[str, Any]) -> Iterable[Segment] | None:
    """Set plain fields on ``campaign``; return the target segments if they were given."""
    protected = sorted(set(fields) & PROTECTED_FIELDS)
    if protected:
        raise ValidationError(
            _("These fields cannot be set here: %(fields)s."),
            code="protected_field",
            params={"fields": ", ".join(protected)},
        )
    segments = fields.pop("target_segments", None)
    known = {f.name for f in Campaign._meta.concrete_fields}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValidationError(
            _("Unknown campaign fields: %(fields)s."),
            code="unknown_field",
            params={"fields": ", ".join(unknown)},
        )
    if "extra_filters" in fields:
        if fields["extra_filters"] is None:
            fields["extra_filters"] = {}
        validate_conditions(fields["extra_filters"])
    if "time_zone" in fields:
        _check_time_zone(fields["time_zone"])
    if "blocked_dates" in fields:
        fields["blocked_dates"] = _check_blocked_dates(fields["blocked_dates"])
    for name, value in fields.items():
        setattr(campaign, name, value)
    return segments


@transaction.atomic
def campaign_create(*, created_by: AbstractBaseUser | None, **fields: Any) -> Campaign:
    """Create a draft campaign. ``extra_filters`` must be a valid segment condition tree."""
    campaign = Campaign(created_by=created_by)
    segments = _apply_fields(campaign, dict(fields))
    campaign.full_clean()
    campaign.save()
    if segments is not None:
        campaign.target_segments.set(segments)
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, **fields: Any) -> Campaign:
    """Edit a campaign; allowed only while it is a draft or paused."""
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if locked.state not in EDITABLE_STATES:
        raise ValidationError(
            _(
                "A %(state)s campaign cannot be edited; only draft or paused campaigns can. "
                "Pause it first."
            ),
            code="not_editable",
            params={"state": _state_label(locked.state).lower()},
        )
    segments = _apply_fields(locked, dict(fields))
    locked.full_clean()
    locked.save()
    if segments is not None:
        locked.target_segments.set(segments)
    return _refreshed(campaign, locked)


def campaign_missing_for_scheduling(campaign: Campaign) -> list[str]:
    """Everything that must be filled in before ``campaign`` can be scheduled (empty = ready)."""
    missing: list[str] = []
    if campaign.starts_on is None:
        missing.append(_("start date"))
    if campaign.ends_on is None:
        missing.append(_("end date"))
    required = CALL_REQUIRED if campaign.channel == Channel.CALL else EMAIL_REQUIRED
    for name, label in required.items():
        if not (getattr(campaign, name) or "").strip():
            missing.append(str(label))
    if not campaign.extra_filters and not campaign.target_segments.exists():
        missing.append(_("a target (at least one segment or extra filters)"))
    return missing


@transaction.atomic
def campaign_transition(
    *, campaign: Campaign, to_state: str, by: AbstractBaseUser | None = None
) -> Campaign:
    """Move ``campaign`` to ``to_state`` if ``TRANSITIONS`` allows it (row locked meanwhile).

    Scheduling checks readiness and reports every missing item at once.
    """
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    from_state = locked.state
    allowed = TRANSITIONS.get(from_state, frozenset())
    if to_state not in allowed:
        targets = ", ".join(_state_label(s) for s in S.values if s in allowed) or _("none")
        raise ValidationError(
            _(
                "A campaign cannot go from %(from)s to %(to)s. "
                "From %(from)s it can go to: %(allowed)s."
            ),
            code="invalid_transition",
            params={
                "from": _state_label(from_state),
                "to": _state_label(to_state),
                "allowed": targets,
            },
        )
    if to_state == S.SCHEDULED:
        missing = campaign_missing_for_scheduling(locked)
        if missing:
            raise ValidationError(
                _("The campaign cannot be scheduled; missing: %(missing)s."),
                code="not_ready",
                params={"missing": "; ".join(missing)},
            )
        if locked.channel == Channel.EMAIL:
            # A template that does not render would fail every batch: refuse it now.
            from outreach.email import email_check

            email_check(locked)
    locked.state = to_state
    locked.save(update_fields=["state", "updated_at"])
    return _refreshed(campaign, locked)


def _refreshed(campaign: Campaign, locked: Campaign) -> Campaign:
    """Bring the caller's instance up to date with the row just saved."""
    campaign.refresh_from_db()
    return campaign
