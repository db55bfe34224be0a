"""Reads for the outreach side: the eligibility trace ("why is or isn't this customer in the
queue right now") and campaign queue counts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Count, Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from campaigns.models import Campaign, CampaignKind, CampaignState
from customers.models import (
    Channel,
    ConsentRecord,
    Customer,
    CustomerRfm,
    DoNotContact,
    ProductRefusal,
)
from customers.segmentation.conditions import conditions_to_q, describe_conditions
from customers.segmentation.selectors import latest_reference_date
from outreach import compliance
from outreach.models import (
    CampaignLaunch,
    CampaignMember,
    CloseReason,
    Lane,
    MemberGroup,
    MemberStatus,
)


@dataclass
class TraceStep:
    code: str
    ok: bool
    label: str
    detail: str = ""


@dataclass
class EligibilityTrace:
    campaign: Campaign
    customer: Customer
    now: datetime
    member: CampaignMember | None
    in_queue_now: bool = False
    summary: str = ""
    steps: list[TraceStep] = field(default_factory=list)
    window: compliance.Window | None = None
    next_due_at: datetime | None = None

    def add(self, code: str, ok: bool, label: str, detail: str = "") -> None:
        self.steps.append(TraceStep(code, ok, str(label), str(detail)))


def _when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def _user(user) -> str:
    return user.get_username() if user is not None else ""


def eligibility_trace(
    *, campaign: Campaign, customer: Customer, now: datetime | None = None
) -> EligibilityTrace:
    """Explain, rule by rule, whether ``customer`` can be handed to an agent in ``campaign``
    right now. Reads only; the same ``outreach.compliance`` rules as claiming."""
    now = now or timezone.now()
    member = (
        CampaignMember.objects.select_related("owner", "callback_agent", "claimed_by")
        .filter(campaign=campaign, customer=customer)
        .first()
    )
    trace = EligibilityTrace(campaign, customer, now, member)

    running = campaign.state == CampaignState.RUNNING
    trace.add(
        "campaign",
        running,
        _("Campaign state: %(state)s") % {"state": campaign.get_state_display()},
        "" if running else _("Only a running campaign hands out customers."),
    )
    if member is None:
        _explain_not_member(trace)
        return _finish(trace)
    trace.add(
        "member",
        True,
        _("Member of the campaign (launch order %(rank)s)") % {"rank": member.rank},
    )
    if member.group == MemberGroup.HOLDOUT:
        trace.add(
            "holdout",
            False,
            _("In the holdout group"),
            _(
                "Chosen at random at launch (seed %(seed)s) and kept uncontacted to measure "
                "lift; never served."
            )
            % {"seed": campaign.holdout_seed},
        )
        return _finish(trace)
    if member.status == MemberStatus.EXCLUDED:
        trace.add(
            "excluded",
            False,
            _("Excluded: %(reason)s") % {"reason": member.get_close_reason_display()},
            _record(member.close_reason, campaign, customer)
            + (
                _(" (since %(when)s)") % {"when": _when(member.closed_at)}
                if member.closed_at
                else ""
            ),
        )
    elif member.status == MemberStatus.DONE:
        detail = ""
        if member.close_reason == CloseReason.CONVERTED:
            detail = _("Converted at %(when)s.") % {"when": _when(member.converted_at)}
        trace.add(
            "done",
            False,
            _("Finished: %(reason)s") % {"reason": member.get_close_reason_display()},
            detail,
        )
    _explain_rules(trace, member)
    _explain_queue(trace, member)
    return _finish(trace)


def _explain_not_member(trace: EligibilityTrace) -> None:
    campaign, customer = trace.campaign, trace.customer
    launch = CampaignLaunch.objects.filter(campaign=campaign).first()
    if launch is None or launch.status != CampaignLaunch.Status.SUCCEEDED:
        trace.add(
            "member",
            False,
            _("Not a member: the campaign has not been launched yet"),
            _("Members are taken from the segments when the campaign is launched."),
        )
        return
    rfm = CustomerRfm.objects.select_related("segment").filter(customer=customer).first()
    targets = list(campaign.target_segments.all())
    if rfm is None:
        trace.add("member", False, _("Not a member: the customer has not been scored yet"))
        return
    segment_name = rfm.segment.display_name() if rfm.segment else _("no segment")
    if targets and rfm.segment_id not in {s.pk for s in targets}:
        trace.add(
            "member",
            False,
            _("Not a member: in segment “%(segment)s”, which the campaign does not target")
            % {"segment": segment_name},
            _("Target segments: %(names)s.")
            % {"names": ", ".join(s.display_name() for s in targets)},
        )
        return
    if campaign.extra_filters:
        matches = CustomerRfm.objects.filter(
            conditions_to_q(campaign.extra_filters, reference_date=latest_reference_date()),
            customer=customer,
        ).exists()
        if not matches:
            trace.add(
                "member",
                False,
                _("Not a member: does not match the extra filters"),
                describe_conditions(campaign.extra_filters),
            )
            return
    if campaign.kind == CampaignKind.BIRTHDAY_MONTH:
        trace.add(
            "member",
            False,
            _("Not a member: not born in the launch month"),
            _("Birth date: %(date)s.") % {"date": customer.birth_date or _("unknown")},
        )
        return
    trace.add(
        "member",
        False,
        _("Not a member: the customer matched the target only after the launch"),
        _("Segment now: %(segment)s. Members are fixed at launch.") % {"segment": segment_name},
    )


def _record(reason: str, campaign: Campaign, customer: Customer) -> str:
    """Which stored record a suppression comes from."""
    if reason == CloseReason.DO_NOT_CONTACT:
        entry = (
            DoNotContact.objects.filter(scope=DoNotContact.Scope.CUSTOMER, customer=customer)
            .order_by("created_at")
            .first()
        )
        return _dnc_text(entry)
    if reason in (CloseReason.PHONE_DO_NOT_CONTACT, CloseReason.NO_PHONE):
        numbers = [n for n in (customer.mobile_phone, customer.phone) if n]
        entries = DoNotContact.objects.filter(scope=DoNotContact.Scope.PHONE, phone__in=numbers)
        if not numbers:
            return _("The customer has no phone number.")
        return " ".join(_dnc_text(e) for e in entries) or _("Numbers: %(numbers)s.") % {
            "numbers": ", ".join(numbers)
        }
    if reason == CloseReason.EMAIL_DO_NOT_CONTACT:
        entry = DoNotContact.objects.filter(
            scope=DoNotContact.Scope.EMAIL, email=customer.email
        ).first()
        return _dnc_text(entry)
    if reason == CloseReason.REFUSED_PRODUCT:
        refusal = ProductRefusal.objects.filter(
            customer=customer, product=campaign.refusal_key
        ).first()
        if refusal is None:
            return ""
        return _("Refusal #%(id)s: “%(product)s” on %(when)s (%(source)s).") % {
            "id": refusal.pk,
            "product": refusal.product,
            "when": _when(refusal.refused_at),
            "source": refusal.source or "—",
        }
    if reason in (CloseReason.EMAIL_OPTED_OUT, CloseReason.NO_EMAIL_CONSENT):
        latest = (
            ConsentRecord.objects.filter(customer=customer, channel=Channel.EMAIL)
            .order_by("-recorded_at", "-id")
            .first()
        )
        if latest is None:
            return _("No e-mail consent is recorded.")
        return _("Latest consent record #%(id)s: %(status)s on %(when)s (%(source)s).") % {
            "id": latest.pk,
            "status": latest.get_status_display(),
            "when": _when(latest.recorded_at),
            "source": latest.source,
        }
    if reason == CloseReason.NO_EMAIL:
        return _("The customer has no e-mail address.")
    return ""


def _dnc_text(entry: DoNotContact | None) -> str:
    if entry is None:
        return ""
    return _("Do-not-contact entry #%(id)s (%(scope)s, %(reason)s) since %(when)s, %(source)s.") % {
        "id": entry.pk,
        "scope": entry.get_scope_display(),
        "reason": entry.get_reason_display(),
        "when": _when(entry.created_at),
        "source": entry.source or "—",
    }


def _explain_rules(trace: EligibilityTrace, member: CampaignMember) -> None:
    campaign, now = trace.campaign, trace.now
    row = (
        CampaignMember.objects.annotate(**compliance.facts_annotations(campaign, now=now))
        .filter(pk=member.pk)
        .first()
    )
    facts = compliance.Facts.of(row)
    verdict = compliance.evaluate(
        campaign,
        facts,
        now=now,
        attempts=member.attempts,
        requested_callback=member.lane == Lane.CALLBACK,
    )
    trace.window = verdict.window
    codes = {b.code: b for b in verdict.blocks}
    suppression = verdict.permanent
    if suppression is not None and suppression.code != compliance.Check.ATTEMPTS_EXHAUSTED:
        trace.add(
            "suppression",
            False,
            _("Suppressed now: %(reason)s") % {"reason": suppression.message},
            _record(suppression.code, campaign, trace.customer),
        )
    elif member.status != MemberStatus.EXCLUDED:
        trace.add("suppression", True, _("No do-not-contact, refusal or consent problem"))
    limit = campaign.max_attempts
    trace.add(
        "attempts",
        compliance.Check.ATTEMPTS_EXHAUSTED not in codes,
        _("Attempts: %(used)s of %(limit)s used") % {"used": member.attempts, "limit": limit},
        _("A callback the customer asked for is honoured past the limit and the frequency cap.")
        if member.lane == Lane.CALLBACK
        else "",
    )
    cap = codes.get(compliance.Check.FREQUENCY_CAP)
    if campaign.frequency_cap_contacts:
        trace.add(
            "frequency_cap",
            cap is None,
            _("Contacts in the last %(days)s days, all campaigns: %(count)s (cap %(cap)s)")
            % {
                "days": campaign.frequency_cap_days,
                "count": facts.recent_contacts,
                "cap": campaign.frequency_cap_contacts,
            },
            _("Allowed again from %(when)s.") % {"when": _when(cap.until)}
            if cap and cap.until
            else "",
        )
    window = verdict.window
    if window is not None:
        zone_note = (
            _("The customer's time zone is unknown: the campaign's zone %(zone)s is used.")
            if window.fallback
            else _("Customer's time zone: %(zone)s.")
        ) % {"zone": window.zone}
        local = window.local_time.strftime("%Y-%m-%d %H:%M")
        if window.open:
            trace.add(
                "window",
                True,
                _("Inside the calling window (local time %(local)s)") % {"local": local},
                zone_note,
            )
        else:
            until = (
                _(" Opens at %(when)s local time.")
                % {"when": window.opens_at.strftime("%Y-%m-%d %H:%M")}
                if window.opens_at
                else _(" It does not open again before the campaign ends.")
            )
            trace.add(
                "window",
                False,
                _("Outside the calling window (local time %(local)s): %(reason)s")
                % {"local": local, "reason": window.reason},
                zone_note + until,
            )


def _explain_queue(trace: EligibilityTrace, member: CampaignMember) -> None:
    now = trace.now
    if member.status == MemberStatus.CLAIMED:
        trace.add(
            "claim",
            False,
            _("Claimed by %(agent)s until %(when)s")
            % {"agent": _user(member.claimed_by), "when": _when(member.claim_expires_at)},
            _("Nobody else is given this customer while the claim lasts."),
        )
    if member.status == MemberStatus.QUEUED:
        if member.lane == Lane.CALLBACK:
            who = (
                _("for %(agent)s only") % {"agent": _user(member.callback_agent)}
                if member.callback_agent
                else _("for any agent")
            )
            trace.add(
                "callback",
                member.due_at <= now,
                _("Callback at %(when)s, %(who)s") % {"when": _when(member.due_at), "who": who},
            )
        if member.owner_id:
            trace.add(
                "owner",
                True,
                _("Assigned to %(agent)s") % {"agent": _user(member.owner)},
                _("Only this agent is given the customer."),
            )
        trace.next_due_at = member.due_at
        trace.add(
            "due",
            member.due_at <= now,
            _("Due now (%(lane)s)") % {"lane": member.get_lane_display()}
            if member.due_at <= now
            else _("Next due at %(when)s (%(lane)s)")
            % {"when": _when(member.due_at), "lane": member.get_lane_display()},
        )


def _finish(trace: EligibilityTrace) -> EligibilityTrace:
    blocking = [s for s in trace.steps if not s.ok]
    trace.in_queue_now = not blocking
    if trace.in_queue_now:
        trace.summary = _("In the queue now: the next agent who asks may be given this customer.")
    else:
        trace.summary = _("Not in the queue right now: %(reason)s.") % {"reason": blocking[0].label}
    return trace


def campaign_queue_counts(campaign: Campaign, *, now: datetime | None = None) -> dict:
    """Members by status and group, and what is waiting now by lane."""
    now = now or timezone.now()
    members = CampaignMember.objects.filter(campaign=campaign)
    by_status = dict(
        members.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    due = members.filter(status=MemberStatus.QUEUED, due_at__lte=now)
    lanes = dict(
        due.order_by().values_list("lane").annotate(n=Count("id")).values_list("lane", "n")
    )
    reasons = dict(
        members.exclude(close_reason="")
        .order_by()
        .values_list("close_reason")
        .annotate(n=Count("id"))
        .values_list("close_reason", "n")
    )
    totals = members.aggregate(
        total=Count("id"),
        holdout=Count("id", filter=Q(group=MemberGroup.HOLDOUT)),
        treatment=Count("id", filter=Q(group=MemberGroup.TREATMENT)),
        waiting_later=Count("id", filter=Q(status=MemberStatus.QUEUED, due_at__gt=now)),
    )
    return {
        **totals,
        "by_status": {s: by_status.get(s, 0) for s in MemberStatus.values},
        "due_by_lane": {Lane(lane).name.lower(): lanes.get(lane, 0) for lane in Lane.values},
        "closed_by_reason": reasons,
    }
