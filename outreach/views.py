"""The agent workspace: my work, next customer, the customer card and the outcome form.

The claim → card → outcome → next loop runs in one page: htmx swaps the work area (``#work``)
and updates the tally out of band, so no full reload is needed. Every card view is audited.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.models import Campaign
from customers.models import Customer
from outreach.claiming import claim_next, claim_release, claim_verify
from outreach.forms import OutcomeForm
from outreach.models import CampaignMember, MemberStatus
from outreach.outcomes import contact_log
from outreach.workspace import card_access, card_view_record, my_work


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _work_context(request: HttpRequest) -> dict:
    return {"work": my_work(agent=request.user)}


def work_home(request: HttpRequest) -> HttpResponse:
    """My work: counts per campaign, my callbacks, today's tally, the next-customer action."""
    context = _work_context(request)
    held = context["work"].held
    context["current"] = _card_context(request, held[0]) if held else None
    return render(request, "outreach/work.html", context)


@require_POST
def work_next(request: HttpRequest) -> HttpResponse:
    """Claim the next customer and show their card."""
    campaign = None
    if request.POST.get("campaign"):
        campaign = get_object_or_404(Campaign, pk=request.POST["campaign"])
    result = claim_next(agent=request.user, campaign=campaign)
    if result.member is None:
        if _is_htmx(request):
            return render(
                request,
                "outreach/_nothing.html",
                {"message": result.message, "skipped": dict(result.skipped)},
            )
        messages.info(request, result.message)
        return redirect("outreach:work")
    if not _is_htmx(request):
        return redirect("outreach:work-card", member_id=result.member.pk)
    # The agent has just claimed this member: access is through the claim, no second lookup.
    return render(
        request, "outreach/_card.html", _card_page(request, result.member, reason="claim")
    )


def _member_for_agent(request: HttpRequest, member_id: int) -> tuple[CampaignMember, str]:
    member = get_object_or_404(
        CampaignMember.objects.select_related("campaign", "customer"), pk=member_id
    )
    reason, _through = card_access(request.user, member.customer)
    if not reason:
        raise Http404
    return member, reason


def _card_page(request: HttpRequest, member: CampaignMember | None, **options) -> dict:
    return {**_work_context(request), "current": _card_context(request, member, **options)}


def work_card(request: HttpRequest, member_id: int) -> HttpResponse:
    member, reason = _member_for_agent(request, member_id)
    return render(request, "outreach/work.html", _card_page(request, member, reason=reason))


def customer_card(request: HttpRequest, customer_id: int) -> HttpResponse:
    """A customer's card outside a claim: supervisors any; agents through a callback or
    ownership only (anything else is a 404)."""
    customer = get_object_or_404(Customer, pk=customer_id)
    reason, member = card_access(request.user, customer)
    if not reason:
        raise Http404
    context = _card_page(request, member, customer=customer, reason=reason)
    return render(request, "outreach/work.html", context)


def _card_context(
    request: HttpRequest,
    member: CampaignMember | None,
    *,
    customer: Customer | None = None,
    reason: str | None = None,
    form: OutcomeForm | None = None,
) -> dict:
    from customers.card import customer_card as build_card

    now = timezone.now()
    customer = customer or member.customer
    if reason is None:
        reason, _through = card_access(request.user, customer)
    holds = (
        member is not None
        and member.status == MemberStatus.CLAIMED
        and member.claimed_by_id == request.user.pk
    )
    verdict = claim_verify(member=member, agent=request.user, now=now) if holds else None
    if verdict is not None and not verdict.allowed:
        holds = False  # a refusal or do-not-contact arrived since the claim: the card says so
        member.refresh_from_db()
    card_view_record(
        user=request.user, customer=customer, member=member, reason=reason, request=request
    )
    campaign = member.campaign if member is not None else None
    if holds and form is None:
        form = OutcomeForm(campaign=campaign)
    email = None
    if holds and campaign is not None and campaign.channel == "email":
        from outreach.email import email_render

        try:
            email = email_render(campaign=campaign, customer=customer)
        except ValidationError as problem:
            email = {"error": " ".join(problem.messages)}
    return {
        "member": member,
        "campaign": campaign,
        "customer": customer,
        "card": build_card(customer, now=now, campaign=campaign),
        "holds": holds,
        "verdict": verdict,
        "form": form if holds else None,
        "access": reason,
        "email": email,
    }


@require_POST
def work_outcome(request: HttpRequest, member_id: int) -> HttpResponse:
    """Log the outcome of the current contact, then offer the next customer."""
    member, reason = _member_for_agent(request, member_id)
    form = OutcomeForm(request.POST, campaign=member.campaign)
    error = None
    if form.is_valid():
        arguments = form.service_arguments()
        duration = form.cleaned_data.get("duration_seconds")
        if duration is None and member.claimed_at:
            duration = int((timezone.now() - member.claimed_at).total_seconds())
        try:
            attempt = contact_log(
                member=member, agent=request.user, duration_seconds=duration or 0, **arguments
            )
        except ValidationError as problem:
            error = problem
        else:
            context = {**_work_context(request), "attempt": attempt, "member": member}
            if _is_htmx(request):
                return render(request, "outreach/_logged.html", context)
            messages.success(request, _("Outcome logged."))
            return redirect("outreach:work")
    if error is not None:
        if hasattr(error, "error_dict"):
            for field, problems in error.message_dict.items():
                target = field if field in form.fields else None
                for problem in problems:
                    form.add_error(target, problem)
        else:
            form.add_error(None, error)
    member.refresh_from_db()
    template = "outreach/_card.html" if _is_htmx(request) else "outreach/work.html"
    return render(request, template, _card_page(request, member, form=form, reason=reason))


@require_POST
def work_send_email(request: HttpRequest, member_id: int) -> HttpResponse:
    """Send the campaign's e-mail to the member the agent holds (personal send), once."""
    from outreach.email import Outcome, email_send_claimed

    member, _reason = _member_for_agent(request, member_id)
    try:
        result = email_send_claimed(member=member, agent=request.user)
    except ValidationError as problem:
        messages.error(request, " ".join(problem.messages))
        return redirect("outreach:work-card", member_id=member.pk)
    if result.outcome in (Outcome.SENT, Outcome.BOUNCED) and result.attempt is not None:
        context = {**_work_context(request), "attempt": result.attempt, "member": member}
        if _is_htmx(request):
            return render(request, "outreach/_logged.html", context)
        messages.success(request, _("E-mail sent."))
        return redirect("outreach:work")
    messages.error(request, _("The e-mail was not sent: %(reason)s.") % {"reason": result.reason})
    return redirect("outreach:work")


@require_POST
def work_release(request: HttpRequest, member_id: int) -> HttpResponse:
    member, _reason = _member_for_agent(request, member_id)
    try:
        claim_release(member=member, agent=request.user)
    except ValidationError as problem:
        messages.error(request, " ".join(problem.messages))
    else:
        messages.info(request, _("The customer went back to the queue."))
    return redirect("outreach:work")
