"""Marketing e-mail (特定電子メール法): render a campaign's e-mail for one member, send it once,
and the one-click unsubscribe link.

Rendering: the campaign's subject and body are Django templates rendered by a sandboxed engine
(built-in tags and filters only, no loaders, no autoescape: the e-mail is plain text) on a
fixed context of plain values (``email_context``). The footer the law requires (sender name,
postal address, contact, unsubscribe link) is always appended by the system, whatever the
template says; a campaign without those fields cannot send.

Sending: one member at a time, inside one transaction that holds the member's row lock from
the compliance check to the recorded outcome:

1. lock the member row (``SELECT … FOR UPDATE``; the batch uses SKIP LOCKED),
2. re-check every rule in ``outreach.compliance`` at that moment (consent, opt-out,
   do-not-contact, frequency cap, campaign running); a blocked member is set aside exactly as
   claiming does and nothing is sent,
3. send through Django's e-mail backend,
4. record the attempt through ``outreach.outcomes`` under the idempotency key
   ``email:<member>:<attempt number>`` and close the member.

Delivery guarantee: at most one e-mail per member, however often and however concurrently
the task runs. A second run waits on the row lock and then finds the member closed (or the
idempotency key used) and sends nothing. The one gap is a crash after the mail server
accepted the message and before the commit: the member is then still waiting and would be
sent again, with the same Message-ID (derived from the idempotency key), which mail systems
treat as the same message. A transient SMTP failure rolls everything back and the task is
retried; a refused recipient is logged as "bounced" and the address goes on the e-mail
do-not-contact list.

An e-mail campaign sends one e-mail per member: a member whose e-mail was sent leaves the
queue whatever the catalogue says about retries for "email_sent".
"""

from __future__ import annotations

import logging
import re
import smtplib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.utils import formataddr
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import QuerySet
from django.template import Context, Engine, TemplateDoesNotExist, TemplateSyntaxError
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from campaigns.models import Campaign, CampaignState
from customers.models import Channel, Customer, DoNotContact, Purchase
from outreach import claiming, compliance
from outreach.models import (
    CampaignMember,
    CloseReason,
    ContactAttempt,
    Disposition,
    MemberGroup,
    MemberStatus,
)
from outreach.outcomes import (
    OPEN,
    contact_log,
    contact_log_system,
    email_opt_out_record,
)

logger = logging.getLogger(__name__)

SENT = "email_sent"
BOUNCED = "bounced"
UNSUBSCRIBED = "unsubscribed"

UNSUBSCRIBE_SALT = "outreach.email.unsubscribe"
SENDER_FIELDS = ("sender_name", "sender_postal_address", "sender_contact")
# A campaign the mailer sent to this recently has a batch running: beat starts no other.
BATCH_ALIVE = timedelta(minutes=2)

# Built-in tags and filters only; no template loaders, so {% include %} and {% extends %} find
# nothing; no autoescape: the e-mail is plain text. The context holds plain values only.
_ENGINE = Engine(loaders=[], libraries={}, builtins=[], autoescape=False, string_if_invalid="")


# --------------------------------------------------------------------------------------------
# Unsubscribe tokens
# --------------------------------------------------------------------------------------------


def unsubscribe_token(*, customer_id: int, campaign_id: int) -> str:
    """A signed, non-expiring token naming the customer and the campaign the e-mail came from:
    the link must keep working for as long as the e-mail sits in the inbox."""
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object({"c": customer_id, "k": campaign_id})


def unsubscribe_read(token: str) -> tuple[int, int]:
    """(customer id, campaign id) from a token; ``signing.BadSignature`` if it was tampered with."""
    data = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)
    try:
        return int(data["c"]), int(data["k"])
    except (KeyError, TypeError, ValueError) as error:
        raise signing.BadSignature("malformed unsubscribe token") from error


def unsubscribe_url(*, customer_id: int, campaign_id: int) -> str:
    token = unsubscribe_token(customer_id=customer_id, campaign_id=campaign_id)
    path = reverse("public:unsubscribe", kwargs={"token": token})
    return settings.OUTREACH_PUBLIC_URL.rstrip("/") + path


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    body: str
    unsubscribe_url: str


def email_check(campaign: Campaign) -> None:
    """Raise ``ValidationError`` (by field) unless ``campaign`` can send e-mail: the sender
    identity the law requires, a subject and a body, and templates that parse."""
    errors: dict[str, str] = {}
    labels = {name: Campaign._meta.get_field(name).verbose_name for name in SENDER_FIELDS}
    for name in SENDER_FIELDS:
        if not getattr(campaign, name).strip():
            errors[name] = _(
                "Every marketing e-mail must show the %(field)s (特定電子メール法); "
                "fill it in before sending."
            ) % {"field": labels[name]}
    for name in ("email_subject", "email_body"):
        text = getattr(campaign, name)
        if not text.strip():
            errors[name] = _("This field is required to send e-mail.")
            continue
        try:
            # Rendered once on sample values too: {% include %}, {% extends %} and {% url %}
            # only fail when rendered.
            _ENGINE.from_string(text).render(Context(_SAMPLE_CONTEXT, autoescape=False))
        except (TemplateSyntaxError, TemplateDoesNotExist, NoReverseMatch) as error:
            errors[name] = _("The template has an error: %(error)s") % {"error": error}
    if errors:
        raise ValidationError(errors, code="email_not_sendable")


_SAMPLE_CONTEXT: dict[str, Any] = {
    "name": "山田 太郎",
    "name_kana": "ヤマダ タロウ",
    "campaign_name": "",
    "offer": "",
    "product": "",
    "last_purchase_product": "",
    "last_purchase_date": date(2026, 1, 1),
    "last_purchase_amount": Decimal("1000"),
    "sender_name": "",
    "sender_postal_address": "",
    "sender_contact": "",
    "unsubscribe_url": "https://example.invalid/unsubscribe/",
}


def email_context(campaign: Campaign, customer: Customer, unsubscribe: str) -> dict[str, Any]:
    """What a campaign's e-mail template may use. Plain values only, never model instances, so
    a template cannot reach further than this."""
    last = (
        Purchase.objects.filter(customer=customer)
        .order_by("-purchased_at", "-id")
        .values("product_name", "product_code", "category", "purchased_at", "amount")
        .first()
    )
    last_date: date | None = None
    if last:
        last_date = timezone.localtime(last["purchased_at"]).date()
    amount: Decimal | None = last["amount"] if last else None
    if amount is not None and amount == amount.to_integral_value():
        amount = amount.quantize(Decimal(1))
    return {
        "name": customer.name,
        "name_kana": customer.name_kana,
        "campaign_name": campaign.name,
        "offer": campaign.offer,
        "product": campaign.product,
        "last_purchase_product": (
            (last["product_name"] or last["product_code"] or last["category"]) if last else ""
        ),
        "last_purchase_date": last_date,
        "last_purchase_amount": amount,
        "sender_name": campaign.sender_name,
        "sender_postal_address": campaign.sender_postal_address,
        "sender_contact": campaign.sender_contact,
        "unsubscribe_url": unsubscribe,
    }


def email_render(*, campaign: Campaign, customer: Customer) -> RenderedEmail:
    """The campaign's e-mail for ``customer``: personalised subject (one line) and body, with
    the legally required footer appended. Raises ``ValidationError`` if it cannot be sent."""
    email_check(campaign)
    url = unsubscribe_url(customer_id=customer.pk, campaign_id=campaign.pk)
    # The site's language, not the language of whoever triggered the send.
    with translation.override(settings.LANGUAGE_CODE):
        context = Context(email_context(campaign, customer, url), autoescape=False)
        subject = _ENGINE.from_string(campaign.email_subject).render(context)
        body = _ENGINE.from_string(campaign.email_body).render(context)
        footer = _footer(campaign, url)
    return RenderedEmail(
        subject=re.sub(r"\s+", " ", subject).strip(),
        body=body.rstrip() + "\n\n" + footer,
        unsubscribe_url=url,
    )


def _footer(campaign: Campaign, url: str) -> str:
    return "\n".join(
        [
            "-- ",
            _("Sender: %(name)s") % {"name": campaign.sender_name},
            _("Address: %(address)s") % {"address": campaign.sender_postal_address},
            _("Contact: %(contact)s") % {"contact": campaign.sender_contact},
            _("To stop receiving these e-mails, open this link: %(url)s") % {"url": url},
            "",
        ]
    )


def email_message(
    *, campaign: Campaign, customer: Customer, message_key: str, connection: Any = None
) -> EmailMessage:
    """The ``EmailMessage`` for one customer, with RFC 8058 one-click unsubscribe headers and a
    Message-ID derived from ``message_key`` (the attempt's idempotency key)."""
    rendered = email_render(campaign=campaign, customer=customer)
    domain = urlsplit(settings.OUTREACH_PUBLIC_URL).hostname or "localhost"
    local = re.sub(r"[^A-Za-z0-9.-]", ".", message_key)
    return EmailMessage(
        subject=rendered.subject,
        body=rendered.body,
        from_email=formataddr((campaign.sender_name, settings.DEFAULT_FROM_EMAIL)),
        to=[customer.email],
        connection=connection,
        headers={
            "List-Unsubscribe": f"<{rendered.unsubscribe_url}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Message-ID": f"<{local}@{domain}>",
        },
    )


# --------------------------------------------------------------------------------------------
# Sending
# --------------------------------------------------------------------------------------------


class Outcome:
    SENT = "sent"
    BOUNCED = "bounced"
    SET_ASIDE = "set_aside"  # a rule blocked it: excluded, or back until the rule clears
    SKIPPED = "skipped"  # nothing to do: not waiting, not due, or already sent


@dataclass(frozen=True)
class SendResult:
    outcome: str
    attempt: ContactAttempt | None = None
    reason: str = ""


@transaction.atomic
def email_send_member(
    *, member_id: int, now: datetime | None = None, connection: Any = None
) -> SendResult:
    """Send the campaign's e-mail to one waiting member, at most once (see the module's
    delivery guarantee). Waits for the member's row lock if another sender holds it."""
    now = now or timezone.now()
    member = CampaignMember.objects.select_for_update().filter(pk=member_id).first()
    if member is None:
        return SendResult(Outcome.SKIPPED, reason="gone")
    campaign = Campaign.objects.get(pk=member.campaign_id)
    return _send_waiting(member, campaign, now, connection)


@transaction.atomic
def email_send_claimed(
    *,
    member: CampaignMember,
    agent: AbstractBaseUser,
    now: datetime | None = None,
    connection: Any = None,
) -> SendResult:
    """An agent sends the campaign's e-mail to the member they hold (personal send). The claim
    is verified (and the row locked) right before sending; the outcome is logged as theirs."""
    now = now or timezone.now()
    verdict = claiming.claim_verify(member=member, agent=agent, now=now)
    if not verdict.allowed:
        block = verdict.blocks[0]
        return SendResult(Outcome.SET_ASIDE, reason=block.code)
    locked = CampaignMember.objects.get(pk=member.pk)  # locked by claim_verify
    campaign = Campaign.objects.get(pk=locked.campaign_id)
    if campaign.channel != Channel.EMAIL:
        raise ValidationError(_("This is not an e-mail campaign."), code="not_email")

    def log(**kwargs: Any) -> ContactAttempt:
        return contact_log(member=locked, agent=agent, **kwargs)

    return _deliver(locked, campaign, now, connection, log)


def _send_waiting(
    member: CampaignMember, campaign: Campaign, now: datetime, connection: Any
) -> SendResult:
    """The system send, on a member whose row the caller has locked."""
    if (
        member.status != MemberStatus.QUEUED
        or member.group != MemberGroup.TREATMENT
        or campaign.channel != Channel.EMAIL
    ):
        return SendResult(Outcome.SKIPPED, reason=member.close_reason or member.status)
    if member.due_at > now:
        return SendResult(Outcome.SKIPPED, reason="not_due")
    verdict = _verdict(campaign, member, now)
    if not verdict.allowed:
        claiming.set_aside(member, verdict, now, Counter())
        return SendResult(Outcome.SET_ASIDE, reason=verdict.blocks[0].code)

    def log(**kwargs: Any) -> ContactAttempt:
        return contact_log_system(member=member, **kwargs)

    return _deliver(member, campaign, now, connection, log)


def _verdict(campaign: Campaign, member: CampaignMember, now: datetime) -> compliance.Verdict:
    """Every rule for ``member`` now, the facts read after the lock was taken."""
    annotations = compliance.facts_annotations(campaign, now=now, prefix="")
    facts = (
        Customer.objects.filter(pk=member.customer_id)
        .annotate(**annotations)
        .values(*annotations)
        .get()
    )
    return claiming.member_verdict(campaign, member, now, compliance.Facts.of(facts))


def _deliver(
    member: CampaignMember,
    campaign: Campaign,
    now: datetime,
    connection: Any,
    log: Callable[..., ContactAttempt],
) -> SendResult:
    """Send and record, the member's row locked by the caller's transaction."""
    key = f"email:{member.pk}:{member.attempts + 1}"
    if ContactAttempt.objects.filter(idempotency_key=key).exists():
        _close_after_send(member, now)
        return SendResult(Outcome.SKIPPED, reason="already_sent")
    customer = Customer.objects.get(pk=member.customer_id)
    address = customer.email or ""
    message = email_message(
        campaign=campaign, customer=customer, message_key=key, connection=connection
    )
    try:
        message.send()
    except smtplib.SMTPRecipientsRefused as refused:
        detail = "; ".join(
            f"{code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
            for code, reply in refused.recipients.values()
        )
        attempt = log(
            disposition=_disposition(BOUNCED),
            idempotency_key=key,
            address=address,
            notes=detail,
            now=now,
        )
        _address_unusable(address, attempt, campaign)
        _close_after_send(member, now)
        logger.info("e-mail to member %s bounced: %s", member.pk, detail)
        return SendResult(Outcome.BOUNCED, attempt, reason=detail)
    attempt = log(disposition=_disposition(SENT), idempotency_key=key, address=address, now=now)
    _close_after_send(member, now)
    return SendResult(Outcome.SENT, attempt)


def _disposition(code: str) -> Disposition:
    try:
        return Disposition.objects.get(code=code)
    except Disposition.DoesNotExist as error:
        raise ValidationError(
            _("The contact outcome “%(code)s” is missing from the catalogue.") % {"code": code},
            code="disposition_missing",
        ) from error


def _close_after_send(member: CampaignMember, now: datetime) -> None:
    """One e-mail per member: whatever the outcome's flags say about retries, it is done."""
    CampaignMember.objects.filter(pk=member.pk, status__in=OPEN).update(
        status=MemberStatus.DONE, close_reason=CloseReason.FINAL, closed_at=now
    )


def _address_unusable(address: str, attempt: ContactAttempt, campaign: Campaign) -> None:
    if (
        not address
        or DoNotContact.objects.filter(scope=DoNotContact.Scope.EMAIL, email=address).exists()
    ):
        return
    DoNotContact.objects.create(
        scope=DoNotContact.Scope.EMAIL,
        email=address,
        reason=DoNotContact.Reason.BOUNCED,
        source=_("contact outcome #%(id)s (%(campaign)s)")
        % {"id": attempt.pk, "campaign": campaign.name},
        note=attempt.notes,
    )


# --------------------------------------------------------------------------------------------
# Batches (non-personal sends)
# --------------------------------------------------------------------------------------------


@dataclass
class BatchResult:
    counts: Counter = field(default_factory=Counter)
    remaining: bool = False  # due members still wait: send another batch
    stopped: str = ""  # why nothing (more) was sent: the campaign is not a running e-mail one

    @property
    def handled(self) -> int:
        return sum(self.counts.values())


def email_waiting(campaign: Campaign | int, *, now: datetime) -> QuerySet[CampaignMember]:
    """Members a batch sends to, in launch order: waiting, due, in the treatment group, and not
    assigned to an agent (assigned members are the agent's personal sends)."""
    return CampaignMember.objects.filter(
        campaign=campaign,
        status=MemberStatus.QUEUED,
        group=MemberGroup.TREATMENT,
        owner__isnull=True,
        due_at__lte=now,
    ).order_by("lane", "owner_id", "due_at", "rank", "pk")


def email_campaign_send(
    *, campaign_id: int, batch_size: int | None = None, now: datetime | None = None
) -> BatchResult:
    """Send the next ``batch_size`` waiting members of a running e-mail campaign, in launch
    order, one transaction per member. Members another sender holds are skipped (SKIP
    LOCKED), so two batches of the same campaign share the work. A pause or a broken template
    stops the batch; nothing is sent past it."""
    batch_size = batch_size or settings.OUTREACH_EMAIL_BATCH_SIZE
    result = BatchResult()
    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None or campaign.channel != Channel.EMAIL:
        result.stopped = "not_email"
        return result
    email_check(campaign)
    connection = get_connection()
    with connection:  # one SMTP session for the whole batch
        for _position in range(batch_size):
            moment = now or timezone.now()
            with transaction.atomic():
                campaign = Campaign.objects.get(pk=campaign_id)  # a pause mid-batch wins
                if campaign.state != CampaignState.RUNNING:
                    result.stopped = "not_running"
                    return result
                member = (
                    email_waiting(campaign, now=moment).select_for_update(skip_locked=True).first()
                )
                if member is None:
                    break
                sent = _send_waiting(member, campaign, moment, connection)
            result.counts[sent.outcome] += 1
    result.remaining = email_waiting(campaign, now=now or timezone.now()).exists()
    return result


def email_campaigns_send_due(*, now: datetime | None = None) -> list[int]:
    """Beat: start a batch for every running e-mail campaign with members due (first sends,
    and members set aside until a rule cleared, e.g. the frequency cap).

    A campaign the mailer sent to within ``BATCH_ALIVE`` already has a batch re-queuing itself,
    so none is added: otherwise every beat would start one more chain for a long campaign.
    A chain that died (worker lost, retries used up) is replaced once it has been quiet that long.
    """
    from outreach.tasks import email_campaign_send_task

    now = now or timezone.now()
    due = CampaignMember.objects.filter(
        status=MemberStatus.QUEUED,
        group=MemberGroup.TREATMENT,
        owner__isnull=True,
        due_at__lte=now,
    ).values("campaign_id")
    sending = ContactAttempt.objects.filter(
        channel=Channel.EMAIL, agent__isnull=True, attempted_at__gt=now - BATCH_ALIVE
    ).values("campaign_id")
    ids = list(
        Campaign.objects.filter(state=CampaignState.RUNNING, channel=Channel.EMAIL, pk__in=due)
        .exclude(pk__in=sending)
        .values_list("pk", flat=True)
    )
    for campaign_id in ids:
        transaction.on_commit(lambda pk=campaign_id: email_campaign_send_task.delay(pk))
    return ids


# --------------------------------------------------------------------------------------------
# Unsubscribing
# --------------------------------------------------------------------------------------------


def email_unsubscribe(
    *, customer: Customer, campaign: Campaign | None, one_click: bool, now: datetime | None = None
) -> bool:
    """The customer followed the unsubscribe link: opt them out of marketing e-mail everywhere,
    at once, with the evidence (time, campaign, how). Returns False if they already were."""
    now = now or timezone.now()
    how = "List-Unsubscribe-Post (RFC 8058)" if one_click else "unsubscribe page"
    campaign_text = f"campaign #{campaign.pk} “{campaign.name}”" if campaign else "campaign deleted"
    evidence = f"unsubscribe link, {campaign_text}, {how}, at {now.isoformat()}"
    withdrawal = email_opt_out_record(
        customer=customer,
        campaign=campaign,
        disposition=Disposition.objects.filter(code=UNSUBSCRIBED).first(),
        source="unsubscribe link",
        evidence=evidence,
        now=now,
    )
    return withdrawal is not None
