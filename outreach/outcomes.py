"""Logging what happened on a contact, and acting on what it means.

``contact_log`` is the one way an outcome enters the system (agent workspace, API, an agent's
e-mail); the mailer's own sends use ``contact_log_system`` (a row lock instead of a claim) and
the unsubscribe link ``email_opt_out_record``, with the same effects. An attempt is recorded
once per idempotency key, then the disposition's meaning is applied: do-not-contact and
refusals take effect at once across campaigns (claims other agents hold on the same customer
included), a callback or retry becomes a ``due_at`` row, success and final outcomes close the
member. The customer is then re-segmented.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Campaign, CampaignKind
from customers.models import Channel, ConsentRecord, Customer, DoNotContact, ProductRefusal
from outreach import compliance
from outreach.models import (
    CampaignMember,
    CloseReason,
    ContactAttempt,
    Disposition,
    Lane,
    MemberStatus,
    VoiceCategory,
)

OPEN = [MemberStatus.QUEUED, MemberStatus.CLAIMED]


def contact_log(
    *,
    member: CampaignMember,
    agent: AbstractBaseUser | None,
    disposition: Disposition,
    idempotency_key: str,
    notes: str = "",
    duration_seconds: int = 0,
    voice_category: str = "",
    voice_text: str = "",
    nps: int | None = None,
    callback_at: datetime | None = None,
    callback_personal: bool | None = None,
    disclosure_given: bool = False,
    address: str = "",
    now: datetime | None = None,
) -> ContactAttempt:
    """Record one contact attempt on ``member`` by ``agent`` and apply its meaning.

    The agent must hold the member's claim. Submitting the same ``idempotency_key`` again
    returns the first attempt and changes nothing.
    """
    now = now or timezone.now()
    _check_key(idempotency_key)
    return _log_once(
        idempotency_key,
        member,
        lambda: _log(
            member=member,
            agent=agent,
            disposition=disposition,
            idempotency_key=idempotency_key,
            notes=notes,
            duration_seconds=duration_seconds,
            voice_category=voice_category,
            voice_text=voice_text,
            nps=nps,
            callback_at=callback_at,
            callback_personal=callback_personal,
            disclosure_given=disclosure_given,
            address=address,
            now=now,
        ),
    )


def contact_log_system(
    *,
    member: CampaignMember,
    disposition: Disposition,
    idempotency_key: str,
    address: str = "",
    notes: str = "",
    now: datetime | None = None,
) -> ContactAttempt:
    """Record a contact the system made itself (the mailer), with no agent and no claim.

    The member must be waiting (status queued) and the caller must hold its row lock for the
    whole contact: the lock, not a claim, makes the mailer the only one acting on it. Same
    replay rule and the same effects as ``contact_log``.
    """
    now = now or timezone.now()
    _check_key(idempotency_key)
    return _log_once(
        idempotency_key,
        member,
        lambda: _log(
            member=member,
            agent=None,
            disposition=disposition,
            idempotency_key=idempotency_key,
            notes=notes,
            duration_seconds=0,
            voice_category="",
            voice_text="",
            nps=None,
            callback_at=None,
            callback_personal=None,
            disclosure_given=False,
            address=address,
            now=now,
            system=True,
        ),
    )


def _check_key(idempotency_key: str) -> None:
    if not idempotency_key or len(idempotency_key) > 80:
        raise ValidationError(
            {"idempotency_key": _("An idempotency key of 1 to 80 characters is required.")}
        )


def _log_once(
    idempotency_key: str, member: CampaignMember, log: Callable[[], ContactAttempt]
) -> ContactAttempt:
    replay = _replay(idempotency_key, member)
    if replay is not None:
        return replay
    try:
        with transaction.atomic():
            attempt = log()
    except IntegrityError:
        # The same submission raced itself; the other one won.
        replay = _replay(idempotency_key, member)
        if replay is None:
            raise
        return replay
    return attempt


def _replay(key: str, member: CampaignMember) -> ContactAttempt | None:
    existing = ContactAttempt.objects.filter(idempotency_key=key).first()
    if existing is not None and existing.member_id != member.pk:
        raise ValidationError(
            {"idempotency_key": _("This idempotency key was already used for another member.")}
        )
    return existing


def _log(
    *,
    member: CampaignMember,
    agent: AbstractBaseUser | None,
    disposition: Disposition,
    idempotency_key: str,
    notes: str,
    duration_seconds: int,
    voice_category: str,
    voice_text: str,
    nps: int | None,
    callback_at: datetime | None,
    callback_personal: bool | None,
    disclosure_given: bool,
    address: str,
    now: datetime,
    system: bool = False,
) -> ContactAttempt:
    locked = (
        CampaignMember.objects.select_for_update(of=("self",))
        .select_related("campaign", "customer")
        .get(pk=member.pk)
    )
    campaign, customer = locked.campaign, locked.customer
    if system and locked.status != MemberStatus.QUEUED:
        raise ValidationError(
            _("This member is no longer waiting; nothing was recorded."), code="not_waiting"
        )
    if not system and (
        locked.status != MemberStatus.CLAIMED or (agent and locked.claimed_by_id != agent.pk)
    ):
        raise ValidationError(
            _(
                "You do not hold this member any more (the claim was released, expired, or the "
                "customer can no longer be contacted). Take the next customer."
            ),
            code="not_claimed",
        )
    callback_scope = _validate(
        campaign=campaign,
        customer=customer,
        disposition=disposition,
        voice_category=voice_category,
        nps=nps,
        callback_at=callback_at,
        callback_personal=callback_personal,
        disclosure_given=disclosure_given,
        duration_seconds=duration_seconds,
        now=now,
    )
    if not address and campaign.channel == Channel.EMAIL:
        address = customer.email or ""
    elif not address:
        # The number the agent was given, not one on the do-not-contact list.
        address = (
            compliance.phone_to_dial(customer) or customer.mobile_phone or customer.phone or ""
        )
    attempt = ContactAttempt.objects.create(
        idempotency_key=idempotency_key,
        member=locked,
        campaign=campaign,
        customer=customer,
        agent=agent,
        channel=campaign.channel,
        address=address,
        disposition=disposition,
        attempted_at=now,
        duration_seconds=duration_seconds,
        notes=notes,
        voice_category=voice_category,
        voice_text=voice_text,
        nps=nps,
        callback_at=callback_at if disposition.callback else None,
        callback_scope=callback_scope,
        disclosure_given=disclosure_given,
        reached=disposition.reached,
        success=disposition.success,
        counts_as_attempt=disposition.counts_as_attempt,
    )
    _apply_customer_effects(attempt, campaign, customer, disposition, agent, now)
    _apply_member_effects(locked, attempt, campaign, disposition, agent, now)
    customer_id = customer.pk
    transaction.on_commit(lambda: _resegment(customer_id))
    return attempt


def _validate(
    *,
    campaign: Campaign,
    customer: Customer,
    disposition: Disposition,
    voice_category: str,
    nps: int | None,
    callback_at: datetime | None,
    callback_personal: bool | None,
    disclosure_given: bool,
    duration_seconds: int,
    now: datetime,
) -> str:
    errors: dict[str, str] = {}
    if not disposition.is_active or not disposition.applies_to(campaign.channel):
        errors["disposition"] = _("“%(name)s” cannot be used on this campaign.") % {
            "name": disposition.display_name()
        }
    if (
        disposition.requires_disclosure
        and campaign.channel == Channel.CALL
        and not disclosure_given
    ):
        errors["disclosure_given"] = _(
            "Confirm that the disclosure (company, your name, product, that this is a "
            "solicitation) was given before logging “%(name)s”."
        ) % {"name": disposition.display_name()}
    if voice_category not in VoiceCategory.values:
        errors["voice_category"] = _("Unknown customer-voice category “%(value)s”.") % {
            "value": voice_category
        }
    if nps is not None:
        if campaign.kind != CampaignKind.NPS_SURVEY:
            errors["nps"] = _("An NPS score is only recorded on survey campaigns.")
        elif not 0 <= int(nps) <= 10:
            errors["nps"] = _("NPS is a score from 0 to 10.")
    if duration_seconds < 0:
        errors["duration_seconds"] = _("The duration cannot be negative.")
    scope = ""
    if disposition.callback:
        scope = disposition.callback_scope
        if callback_personal is not None:
            scope = (
                Disposition.CallbackScope.PERSONAL
                if callback_personal
                else Disposition.CallbackScope.ANY_AGENT
            )
        if callback_at is None:
            errors["callback_at"] = _("Enter the callback time.")
        elif callback_at <= now:
            errors["callback_at"] = _("The callback time must be in the future.")
        else:
            window = compliance.callback_time_allowed(
                campaign, callback_at, time_zone=customer.time_zone, country=customer.country
            )
            if not window.open:
                hint = (
                    _(" The next allowed time is %(when)s.")
                    % {"when": window.opens_at.strftime("%Y-%m-%d %H:%M %Z")}
                    if window.opens_at
                    else ""
                )
                errors["callback_at"] = (
                    _("That time is outside the calling window: %(reason)s.")
                    % {"reason": window.reason}
                    + hint
                )
    elif callback_at is not None:
        errors["callback_at"] = _("“%(name)s” does not schedule a callback.") % {
            "name": disposition.display_name()
        }
    if errors:
        raise ValidationError(errors)
    return scope


def _apply_customer_effects(
    attempt: ContactAttempt,
    campaign: Campaign,
    customer: Customer,
    disposition: Disposition,
    agent: AbstractBaseUser | None,
    now: datetime,
) -> None:
    source = _("contact outcome #%(id)s (%(campaign)s)") % {
        "id": attempt.pk,
        "campaign": campaign.name,
    }
    if disposition.do_not_contact:
        customer_do_not_contact_add(
            customer=customer,
            reason=DoNotContact.Reason.CUSTOMER_REQUEST,
            source=source,
            by=agent,
            now=now,
        )
    if disposition.refused_product and campaign.refusal_key:
        ProductRefusal.objects.get_or_create(
            customer=customer,
            product=campaign.refusal_key,
            defaults={"refused_at": now, "source": source, "created_by": agent},
        )
        same_product = Campaign.objects.filter(
            Q(product=campaign.refusal_key) | Q(product="", disclosure_product=campaign.refusal_key)
        )
        _close_open_members(
            Q(customer=customer, campaign__in=same_product), CloseReason.REFUSED_PRODUCT, now
        )
    if disposition.email_opt_out:
        _email_opt_out(customer, source=source, evidence="", agent=agent, now=now)
    if (
        disposition.wrong_number
        and attempt.channel == Channel.CALL
        and attempt.address
        and not DoNotContact.objects.filter(
            scope=DoNotContact.Scope.PHONE, phone=attempt.address
        ).exists()
    ):
        DoNotContact.objects.create(
            scope=DoNotContact.Scope.PHONE,
            phone=attempt.address,
            reason=DoNotContact.Reason.WRONG_NUMBER,
            source=source,
            created_by=agent,
        )


def _email_opt_out(
    customer: Customer,
    *,
    source: str,
    evidence: str,
    agent: AbstractBaseUser | None,
    now: datetime,
) -> ConsentRecord:
    """Record the withdrawal (it overrides any earlier consent) and take the customer out of
    every open e-mail membership at once."""
    record = ConsentRecord.objects.create(
        customer=customer,
        channel=Channel.EMAIL,
        status=ConsentRecord.Status.WITHDRAWN,
        source=source,
        evidence=evidence,
        recorded_at=now,
        created_by=agent,
    )
    _close_open_members(
        Q(customer=customer, campaign__channel=Channel.EMAIL), CloseReason.EMAIL_OPTED_OUT, now
    )
    return record


@transaction.atomic
def email_opt_out_record(
    *,
    customer: Customer,
    campaign: Campaign | None,
    disposition: Disposition | None,
    source: str,
    evidence: str,
    now: datetime | None = None,
) -> ConsentRecord | None:
    """The customer opted out of marketing e-mail by themselves (the unsubscribe link): no
    agent, no claim, and usually no open membership (the e-mail that carried the link was
    already sent).

    Takes effect at once, like an agent-logged opt-out: a withdrawn consent record with its
    evidence, every open e-mail membership of the customer closed. The outcome
    (``disposition``, "unsubscribed") is logged on ``campaign``'s membership when there is a
    campaign. Idempotent per state: while the newest e-mail consent record is already a
    withdrawal nothing new is recorded (open e-mail memberships are still closed).
    Returns the withdrawal recorded now, None if the customer had already opted out.
    """
    now = now or timezone.now()
    # Two clicks at once: the second waits here and finds the withdrawal the first recorded.
    Customer.objects.select_for_update().filter(pk=customer.pk).values("pk").get()
    current = (
        ConsentRecord.objects.filter(customer=customer, channel=Channel.EMAIL)
        .order_by("-recorded_at", "-id")
        .first()
    )
    if current is not None and current.status == ConsentRecord.Status.WITHDRAWN:
        _close_open_members(
            Q(customer=customer, campaign__channel=Channel.EMAIL), CloseReason.EMAIL_OPTED_OUT, now
        )
        return None
    record = _email_opt_out(customer, source=source, evidence=evidence, agent=None, now=now)
    if campaign is None or disposition is None:
        return record
    ContactAttempt.objects.create(
        idempotency_key=f"unsubscribe:{record.pk}",
        member=CampaignMember.objects.filter(campaign=campaign, customer=customer).first(),
        campaign=campaign,
        customer=customer,
        channel=Channel.EMAIL,
        address=customer.email or "",
        disposition=disposition,
        attempted_at=now,
        notes=evidence,
        reached=disposition.reached,
        success=disposition.success,
        counts_as_attempt=disposition.counts_as_attempt,
    )
    return record


class DoNotContactAdded(NamedTuple):
    entry: DoNotContact
    created: bool  # False: the customer was already on the list
    members_closed: int


@transaction.atomic
def customer_do_not_contact_add(
    *,
    customer: Customer,
    reason: str,
    source: str,
    by: AbstractBaseUser | None = None,
    now: datetime | None = None,
) -> DoNotContactAdded:
    """Put ``customer`` on the do-not-contact list (scope customer: no campaign, no channel) and
    take every open membership of theirs out of the queue at once, claims included.

    Used by outcomes whose disposition means "do not contact" and by the admin action. An
    existing customer entry is kept as it is (first reason and source stand); open memberships
    are closed either way.
    """
    now = now or timezone.now()
    entry = DoNotContact.objects.filter(
        scope=DoNotContact.Scope.CUSTOMER, customer=customer
    ).first()
    created = entry is None
    if created:
        entry = DoNotContact.objects.create(
            scope=DoNotContact.Scope.CUSTOMER,
            customer=customer,
            reason=reason,
            source=source,
            created_by=by,
        )
    closed = _close_open_members(Q(customer=customer), CloseReason.DO_NOT_CONTACT, now)
    return DoNotContactAdded(entry, created, closed)


def _close_open_members(where: Q, reason: str, now: datetime) -> int:
    """Take every open membership matching ``where`` out of the queue, claims included: the
    agent holding one finds it gone at their next step."""
    return CampaignMember.objects.filter(where, status__in=OPEN).update(
        status=MemberStatus.EXCLUDED,
        close_reason=reason,
        closed_at=now,
        claimed_by=None,
        claimed_at=None,
        claim_expires_at=None,
    )


def _apply_member_effects(
    member: CampaignMember,
    attempt: ContactAttempt,
    campaign: Campaign,
    disposition: Disposition,
    agent: AbstractBaseUser | None,
    now: datetime,
) -> None:
    fresh = CampaignMember.objects.get(pk=member.pk)  # customer effects may have closed it
    member.status = fresh.status
    member.close_reason = fresh.close_reason
    member.closed_at = fresh.closed_at
    if disposition.counts_as_attempt:
        member.attempts += 1
    member.last_attempt_at = now
    member.claimed_by = None
    member.claimed_at = None
    member.claim_expires_at = None
    member.callback_agent = None
    if member.status in OPEN:
        if disposition.success:
            _close(member, MemberStatus.DONE, CloseReason.CONVERTED, now)
            member.converted_at = now
        elif disposition.final_for_campaign:
            _close(member, MemberStatus.DONE, CloseReason.FINAL, now)
        elif disposition.callback:
            member.status = MemberStatus.QUEUED
            member.lane = Lane.CALLBACK
            member.due_at = attempt.callback_at
            if attempt.callback_scope == Disposition.CallbackScope.PERSONAL:
                member.callback_agent = agent
        elif campaign.max_attempts and member.attempts >= campaign.max_attempts:
            _close(member, MemberStatus.DONE, CloseReason.EXHAUSTED, now)
        else:
            minutes = disposition.retry_after_minutes or campaign.retry_after_minutes
            member.status = MemberStatus.QUEUED
            member.lane = Lane.RETRY
            member.due_at = now + timedelta(minutes=minutes)
    member.save()


def _close(member: CampaignMember, status: str, reason: str, now: datetime) -> None:
    member.status = status
    member.close_reason = reason
    member.closed_at = now


def _resegment(customer_id: int) -> None:
    from customers.tasks import segmentation_run_task

    segmentation_run_task.delay("outcome", [customer_id])


@transaction.atomic
def callback_schedule(
    *,
    member: CampaignMember,
    agent: AbstractBaseUser,
    at: datetime,
    personal: bool = True,
    now: datetime | None = None,
) -> CampaignMember:
    """Set (or move) a callback on a member the agent holds, or on their own callback.

    The time must be in the future and inside the calling window in the customer's zone; the
    callback still obeys every suppression when it comes due.
    """
    now = now or timezone.now()
    locked = (
        CampaignMember.objects.select_for_update(of=("self",))
        .select_related("campaign", "customer")
        .get(pk=member.pk)
    )
    holds = locked.status == MemberStatus.CLAIMED and locked.claimed_by_id == agent.pk
    owns_callback = (
        locked.status == MemberStatus.QUEUED
        and locked.lane == Lane.CALLBACK
        and locked.callback_agent_id in (None, agent.pk)
    )
    if not (holds or owns_callback):
        raise ValidationError(
            _("You can only schedule a callback on a customer you hold or your own callback."),
            code="not_claimed",
        )
    if at <= now:
        raise ValidationError({"at": _("The callback time must be in the future.")})
    customer = locked.customer
    window = compliance.callback_time_allowed(
        locked.campaign, at, time_zone=customer.time_zone, country=customer.country
    )
    if not window.open:
        raise ValidationError(
            {
                "at": _("That time is outside the calling window: %(reason)s.")
                % {"reason": window.reason}
            }
        )
    locked.status = MemberStatus.QUEUED
    locked.lane = Lane.CALLBACK
    locked.due_at = at
    locked.callback_agent = agent if personal else None
    locked.claimed_by = None
    locked.claimed_at = None
    locked.claim_expires_at = None
    locked.save()
    return locked
