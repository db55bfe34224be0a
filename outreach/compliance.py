"""Every outreach rule in one place: who may be contacted, on which channel, and when.

Launch (set-based, via ``facts_annotations`` + ``SUPPRESSIONS``), claiming, callbacks, e-mail
sending and the eligibility trace (per member, via ``evaluate``) all use this module, so a
refusal logged a minute ago wins everywhere (特定商取引法 Art.17, 特定電子メール法, DOMAIN.md).

Facts about a customer (do-not-contact entries, refusals, consent, recent contacts) are read
by SQL annotations so one query serves a claim; the rules themselves are plain functions over
those facts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from django.conf import settings
from django.db import connection
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from campaigns.models import Campaign, CampaignState
from customers.models import Channel, ConsentRecord, DoNotContact, ProductRefusal
from outreach.models import CloseReason, ContactAttempt

# How far ahead the calling-window search looks for the next open day.
WINDOW_SEARCH_DAYS = 400


# --------------------------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------------------------


def facts_annotations(campaign: Campaign, *, now: datetime, prefix: str = "customer__") -> dict:
    """SQL expressions for every fact the rules need, for a queryset whose customer is at
    ``prefix`` (``"customer__"`` on members, ``""`` on customers).

    ``facts_sql`` below spells the same facts as SQL text for the claim: both must agree."""
    customer = OuterRef(f"{prefix}pk" if prefix else "pk")
    annotations: dict[str, Any] = {
        "f_dnc_customer": Exists(
            DoNotContact.objects.filter(scope=DoNotContact.Scope.CUSTOMER, customer=customer)
        ),
        "f_phone": _path(prefix, "phone"),
        "f_mobile": _path(prefix, "mobile_phone"),
        "f_email": _path(prefix, "email"),
        "f_time_zone": _path(prefix, "time_zone"),
        "f_country": _path(prefix, "country"),
        "f_dnc_phone": Exists(
            DoNotContact.objects.filter(
                scope=DoNotContact.Scope.PHONE, phone=OuterRef(f"{prefix}phone")
            )
        ),
        "f_dnc_mobile": Exists(
            DoNotContact.objects.filter(
                scope=DoNotContact.Scope.PHONE, phone=OuterRef(f"{prefix}mobile_phone")
            )
        ),
        "f_dnc_email": Exists(
            DoNotContact.objects.filter(
                scope=DoNotContact.Scope.EMAIL, email=OuterRef(f"{prefix}email")
            )
        ),
        "f_refused": (
            Exists(ProductRefusal.objects.filter(customer=customer, product=campaign.refusal_key))
            if campaign.refusal_key
            else Value(False)
        ),
    }
    if campaign.channel == Channel.EMAIL:
        annotations["f_consent"] = Subquery(
            ConsentRecord.objects.filter(customer=customer, channel=Channel.EMAIL)
            .order_by("-recorded_at", "-id")
            .values("status")[:1]
        )
        if settings.OUTREACH_EMAIL_RELATIONSHIP_IS_CONSENT:
            from customers.models import Purchase

            annotations["f_relationship"] = Exists(Purchase.objects.filter(customer=customer))
    cap = campaign.frequency_cap_contacts
    if cap:
        recent = ContactAttempt.objects.filter(
            customer=customer,
            counts_as_attempt=True,
            attempted_at__gt=now - timedelta(days=campaign.frequency_cap_days),
        )
        annotations["f_recent_contacts"] = Coalesce(
            Subquery(recent.order_by().values("customer").annotate(n=Count("id")).values("n")[:1]),
            0,
        )
        # The count falls below the cap when the cap-th newest contact leaves the window (with
        # exactly ``cap`` contacts that is the oldest; with more, the oldest leaving is not enough).
        annotations["f_capping_contact_at"] = Subquery(
            recent.order_by("-attempted_at", "-id").values("attempted_at")[cap - 1 : cap],
            output_field=DateTimeField(),
        )
    return annotations


def facts_sql(campaign: Campaign, *, now: datetime, customer: str = "c") -> tuple[str, list]:
    """The facts of ``facts_annotations`` as hand-written SQL select items (``… AS f_*``, comma
    separated) over a customer row aliased ``customer``, and their parameters.

    Claiming reads them this way, in the statement that locks the member: built once per kind
    of campaign and cached, it costs nothing to compile on each claim (the ORM spent several
    milliseconds of Python per claim building the annotations). Portable SQL: PostgreSQL and
    SQLite. The two spellings MUST agree — a fact added to or changed in one is added to or
    changed in the other; ``test_the_claim_sql_reads_the_same_facts_as_the_annotations``
    compares them on every kind of customer.
    """
    cap = campaign.frequency_cap_contacts
    refusal = campaign.refusal_key
    email = campaign.channel == Channel.EMAIL
    sql = _facts_sql_text(
        customer,
        bool(refusal),
        email,
        email and settings.OUTREACH_EMAIL_RELATIONSHIP_IS_CONSENT,
        bool(cap),
    )
    params: list[Any] = [refusal] if refusal else []
    if cap:
        since = connection.ops.adapt_datetimefield_value(
            now - timedelta(days=campaign.frequency_cap_days)
        )
        params += [since, since, cap - 1]
    return sql, params


def facts_from_row(row: dict) -> Facts:
    """``Facts`` from the ``f_*`` columns ``facts_sql`` selected, as the database driver handed
    them back (SQLite returns the capping contact's time as text or naive UTC)."""
    capping = row.get("f_capping_contact_at")
    if capping is not None and (not isinstance(capping, datetime) or capping.tzinfo is None):
        row = {
            **row,
            "f_capping_contact_at": connection.ops.convert_datetimefield_value(
                capping, None, connection
            ),
        }
    return Facts.of(row)


@lru_cache(maxsize=64)
def _facts_sql_text(c: str, refusal: bool, email: bool, relationship: bool, cap: bool) -> str:
    dnc = DoNotContact._meta.db_table
    scope = DoNotContact.Scope
    items = [
        f"EXISTS (SELECT 1 FROM {dnc} d WHERE d.customer_id = {c}.id"
        f" AND d.scope = '{scope.CUSTOMER.value}') AS f_dnc_customer",
        f"{c}.phone AS f_phone",
        f"{c}.mobile_phone AS f_mobile",
        f"{c}.email AS f_email",
        f"{c}.time_zone AS f_time_zone",
        f"{c}.country AS f_country",
        f"EXISTS (SELECT 1 FROM {dnc} d WHERE d.phone = {c}.phone"
        f" AND d.scope = '{scope.PHONE.value}') AS f_dnc_phone",
        f"EXISTS (SELECT 1 FROM {dnc} d WHERE d.phone = {c}.mobile_phone"
        f" AND d.scope = '{scope.PHONE.value}') AS f_dnc_mobile",
        f"EXISTS (SELECT 1 FROM {dnc} d WHERE d.email = {c}.email"
        f" AND d.scope = '{scope.EMAIL.value}') AS f_dnc_email",
    ]
    if refusal:
        items.append(
            f"EXISTS (SELECT 1 FROM {ProductRefusal._meta.db_table} r"
            f" WHERE r.customer_id = {c}.id AND r.product = %s) AS f_refused"
        )
    if email:
        items.append(
            f"(SELECT k.status FROM {ConsentRecord._meta.db_table} k"
            f" WHERE k.customer_id = {c}.id AND k.channel = '{Channel.EMAIL.value}'"
            " ORDER BY k.recorded_at DESC, k.id DESC LIMIT 1) AS f_consent"
        )
        if relationship:
            from customers.models import Purchase

            items.append(
                f"EXISTS (SELECT 1 FROM {Purchase._meta.db_table} p"
                f" WHERE p.customer_id = {c}.id) AS f_relationship"
            )
    if cap:
        recent = (
            f"FROM {ContactAttempt._meta.db_table} a WHERE a.customer_id = {c}.id"
            " AND a.counts_as_attempt AND a.attempted_at > %s"
        )
        items.append(f"(SELECT COUNT(*) {recent}) AS f_recent_contacts")
        items.append(
            f"(SELECT a.attempted_at {recent} ORDER BY a.attempted_at DESC, a.id DESC"
            " LIMIT 1 OFFSET %s) AS f_capping_contact_at"
        )
    return ",\n       ".join(items)


def _path(prefix: str, name: str) -> Any:
    from django.db.models import F

    return F(f"{prefix}{name}")


@dataclass(frozen=True)
class Facts:
    """What the rules know about one customer at one moment (see ``facts_annotations``)."""

    dnc_customer: bool = False
    phone: str | None = None
    mobile: str | None = None
    email: str | None = None
    time_zone: str = ""
    country: str = ""
    dnc_phone: bool = False
    dnc_mobile: bool = False
    dnc_email: bool = False
    refused: bool = False
    consent: str | None = None
    relationship: bool = False
    recent_contacts: int = 0
    capping_contact_at: datetime | None = None  # the cap-th newest contact in the cap's window

    @classmethod
    def of(cls, row: Any) -> Facts:
        """Read the ``f_*`` annotations off a model instance or a ``values()`` dict."""
        get = (
            row.get
            if isinstance(row, dict)
            else lambda name, default=None: getattr(row, name, default)
        )
        return cls(
            dnc_customer=bool(get("f_dnc_customer", False)),
            phone=get("f_phone"),
            mobile=get("f_mobile"),
            email=get("f_email"),
            time_zone=get("f_time_zone") or "",
            country=get("f_country") or "",
            dnc_phone=bool(get("f_dnc_phone", False)),
            dnc_mobile=bool(get("f_dnc_mobile", False)),
            dnc_email=bool(get("f_dnc_email", False)),
            refused=bool(get("f_refused", False)),
            consent=get("f_consent"),
            relationship=bool(get("f_relationship", False)),
            recent_contacts=int(get("f_recent_contacts", 0) or 0),
            capping_contact_at=get("f_capping_contact_at"),
        )

    def usable_phones(self) -> list[str]:
        """Numbers that may be dialled, mobile first."""
        numbers = []
        if self.mobile and not self.dnc_mobile:
            numbers.append(self.mobile)
        if self.phone and not self.dnc_phone and self.phone != self.mobile:
            numbers.append(self.phone)
        return numbers


def phone_to_dial(customer: Any) -> str | None:
    """The number a call to ``customer`` uses now (``Facts.usable_phones``, read from the
    do-not-contact list): what the agent dials and what the attempt records."""
    numbers = [n for n in (customer.mobile_phone, customer.phone) if n]
    listed = set(
        DoNotContact.objects.filter(scope=DoNotContact.Scope.PHONE, phone__in=numbers).values_list(
            "phone", flat=True
        )
    )
    usable = Facts(
        phone=customer.phone,
        mobile=customer.mobile_phone,
        dnc_phone=customer.phone in listed,
        dnc_mobile=customer.mobile_phone in listed,
    ).usable_phones()
    return usable[0] if usable else None


# --------------------------------------------------------------------------------------------
# Permanent suppressions (a member with one of these leaves the campaign)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Suppression:
    """A rule that removes a customer from a campaign for good. ``applies`` says whether the
    rule is relevant to the campaign; ``q`` selects the suppressed rows set-based (on
    ``facts_annotations``); ``test`` decides the same for one customer's ``Facts``."""

    reason: str
    applies: Callable[[Campaign], bool]
    q: Callable[[Campaign], Q]
    test: Callable[[Campaign, Facts], bool]


def _is_call(campaign: Campaign) -> bool:
    return campaign.channel == Channel.CALL


def _is_email(campaign: Campaign) -> bool:
    return campaign.channel == Channel.EMAIL


def _always(campaign: Campaign) -> bool:
    return True


def _phone_unusable_q(campaign: Campaign) -> Q:
    mobile_ok = Q(f_mobile__isnull=False, f_dnc_mobile=False)
    phone_ok = Q(f_phone__isnull=False, f_dnc_phone=False)
    return ~(mobile_ok | phone_ok)


def _phones_all_dnc_q(campaign: Campaign) -> Q:
    # Has a number, and every number it has is on the list.
    has_number = Q(f_mobile__isnull=False) | Q(f_phone__isnull=False)
    return has_number & _phone_unusable_q(campaign)


def _no_consent_q(campaign: Campaign) -> Q:
    # Spelled out: NOT (consent = 'granted') is NULL, not true, for a customer with no record.
    missing = Q(f_consent__isnull=True)
    if settings.OUTREACH_EMAIL_RELATIONSHIP_IS_CONSENT:
        missing &= Q(f_relationship=False)
    return missing | (Q(f_consent__isnull=False) & ~Q(f_consent=ConsentRecord.Status.GRANTED))


def _no_consent(campaign: Campaign, facts: Facts) -> bool:
    if facts.consent == ConsentRecord.Status.GRANTED:
        return False
    return not (
        settings.OUTREACH_EMAIL_RELATIONSHIP_IS_CONSENT
        and facts.consent is None
        and facts.relationship
    )


# In order: the first that matches is the reason recorded.
SUPPRESSIONS: list[Suppression] = [
    Suppression(
        CloseReason.DO_NOT_CONTACT,
        _always,
        lambda c: Q(f_dnc_customer=True),
        lambda c, f: f.dnc_customer,
    ),
    Suppression(
        CloseReason.REFUSED_PRODUCT,
        lambda c: bool(c.refusal_key),
        lambda c: Q(f_refused=True),
        lambda c, f: f.refused,
    ),
    Suppression(
        CloseReason.PHONE_DO_NOT_CONTACT,
        _is_call,
        _phones_all_dnc_q,
        lambda c, f: bool(f.phone or f.mobile) and not f.usable_phones(),
    ),
    Suppression(
        CloseReason.NO_PHONE,
        _is_call,
        _phone_unusable_q,
        lambda c, f: not f.usable_phones(),
    ),
    Suppression(
        CloseReason.NO_EMAIL,
        _is_email,
        lambda c: Q(f_email__isnull=True) | Q(f_email=""),
        lambda c, f: not f.email,
    ),
    Suppression(
        CloseReason.EMAIL_DO_NOT_CONTACT,
        _is_email,
        lambda c: Q(f_dnc_email=True),
        lambda c, f: f.dnc_email,
    ),
    Suppression(
        CloseReason.EMAIL_OPTED_OUT,
        _is_email,
        lambda c: Q(f_consent=ConsentRecord.Status.WITHDRAWN),
        lambda c, f: f.consent == ConsentRecord.Status.WITHDRAWN,
    ),
    Suppression(
        CloseReason.NO_EMAIL_CONSENT,
        _is_email,
        _no_consent_q,
        _no_consent,
    ),
]


def suppressions_for(campaign: Campaign) -> list[Suppression]:
    return [rule for rule in SUPPRESSIONS if rule.applies(campaign)]


def suppress(queryset: QuerySet, campaign: Campaign, *, now: datetime) -> dict[str, int]:
    """Set-based: mark every suppressed row of ``queryset`` (waiting campaign members) excluded
    with its reason. Returns the count per reason."""
    from outreach.models import MemberStatus

    counts: dict[str, int] = {}
    annotated = queryset.annotate(**facts_annotations(campaign, now=now))
    for rule in suppressions_for(campaign):
        ids = annotated.filter(status=MemberStatus.QUEUED).filter(rule.q(campaign)).values("pk")
        counts[str(rule.reason)] = queryset.model.objects.filter(pk__in=ids).update(
            status=MemberStatus.EXCLUDED, close_reason=rule.reason, closed_at=now
        )
    return counts


# --------------------------------------------------------------------------------------------
# Calling window
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Whether the calling window is open for one customer now, and when it next opens."""

    open: bool
    zone: str
    fallback: bool  # the customer's own zone was unknown: the campaign's zone was used
    local_time: datetime
    reason: str = ""  # why it is closed now
    opens_at: datetime | None = None  # None while open, or never again (campaign over)


def customer_zone(time_zone: str, campaign: Campaign | None) -> tuple[ZoneInfo, bool]:
    """The customer's own zone if known and valid, else the campaign's, or without a campaign
    the site's ``TIME_ZONE`` (fallback=True)."""
    if time_zone:
        try:
            return _zone(time_zone), False
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return _zone((campaign.time_zone if campaign else "") or settings.TIME_ZONE), True


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=256)
def _holidays(country: str, year: int) -> dict[date, str]:
    try:
        return dict(holidays.country_holidays(country or "JP", years=year))
    except NotImplementedError:
        return {}


def holiday_name(day: date, country: str) -> str | None:
    return _holidays((country or "JP").upper(), day.year).get(day)


def _day_closed(campaign: Campaign, day: date, country: str) -> str:
    """Why no calls may be made on local ``day`` at all ('' = calls allowed that day)."""
    if campaign.starts_on and day < campaign.starts_on:
        return _("the campaign starts on %(day)s") % {"day": campaign.starts_on.isoformat()}
    if campaign.ends_on and day > campaign.ends_on:
        return _("the campaign ended on %(day)s") % {"day": campaign.ends_on.isoformat()}
    if day.isoformat() in (campaign.blocked_dates or []):
        return _("%(day)s is a blocked date") % {"day": day.isoformat()}
    name = holiday_name(day, country)
    if name and not campaign.call_on_holidays:
        return _("%(day)s is a public holiday (%(name)s)") % {"day": day.isoformat(), "name": name}
    if day.weekday() >= 5 and not campaign.call_on_weekends:
        return _("%(day)s is a weekend day") % {"day": day.isoformat()}
    return ""


def calling_window(campaign: Campaign, *, time_zone: str, country: str, now: datetime) -> Window:
    """The calling window for a customer in ``time_zone`` (their own, else the campaign's):
    weekday hours, public holidays of their country, blocked dates and the campaign's dates."""
    zone, fallback = customer_zone(time_zone, campaign)
    local = now.astimezone(zone)
    today = local.date()
    reason = _day_closed(campaign, today, country)
    if not reason:
        if local.time() < campaign.window_start:
            reason = _("before %(start)s local time") % {
                "start": campaign.window_start.strftime("%H:%M")
            }
        elif local.time() >= campaign.window_end:
            reason = _("after %(end)s local time") % {"end": campaign.window_end.strftime("%H:%M")}
        else:
            return Window(True, str(zone.key), fallback, local)
    return Window(
        False,
        str(zone.key),
        fallback,
        local,
        reason=reason,
        opens_at=_next_opening(campaign, zone, country, local),
    )


def _next_opening(
    campaign: Campaign, zone: ZoneInfo, country: str, local: datetime
) -> datetime | None:
    day = local.date()
    if local.time() >= campaign.window_start:
        day += timedelta(days=1)
    for _offset in range(WINDOW_SEARCH_DAYS):
        if campaign.ends_on and day > campaign.ends_on:
            return None
        if not _day_closed(campaign, day, country):
            return datetime.combine(day, campaign.window_start, tzinfo=zone)
        day += timedelta(days=1)
    return None


# --------------------------------------------------------------------------------------------
# One member, now
# --------------------------------------------------------------------------------------------


class Check:
    """Codes of the rules that can stop a contact right now."""

    CAMPAIGN_NOT_RUNNING = "campaign_not_running"
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    FREQUENCY_CAP = "frequency_cap"
    OUTSIDE_WINDOW = "outside_window"


@dataclass(frozen=True)
class Block:
    """One reason a contact may not happen now. ``permanent`` blocks end the membership;
    the others clear at ``until`` (None: not by itself)."""

    code: str
    message: str
    permanent: bool
    until: datetime | None = None


@dataclass(frozen=True)
class Verdict:
    blocks: list[Block] = field(default_factory=list)
    window: Window | None = None
    phone: str | None = None  # the number to dial, for calls

    @property
    def allowed(self) -> bool:
        return not self.blocks

    @property
    def permanent(self) -> Block | None:
        return next((b for b in self.blocks if b.permanent), None)

    @property
    def retry_at(self) -> datetime | None:
        """When every temporary block has cleared (None if one never clears by itself)."""
        moments = [b.until for b in self.blocks]
        if not moments or any(m is None for m in moments):
            return None
        return max(m for m in moments if m is not None)


def evaluate(
    campaign: Campaign,
    facts: Facts,
    *,
    now: datetime,
    attempts: int = 0,
    check_window: bool = True,
    requested_callback: bool = False,
) -> Verdict:
    """Every rule for one customer in ``campaign`` at ``now``; empty blocks = may contact.

    A callback the customer asked for (``requested_callback``) is honoured past the attempt
    limit and the frequency cap — the customer wants the call — but never past a suppression
    or outside the calling window.
    """
    blocks: list[Block] = []
    for rule in suppressions_for(campaign):
        if rule.test(campaign, facts):
            blocks.append(Block(str(rule.reason), str(CloseReason(rule.reason).label), True))
            break
    if campaign.state != CampaignState.RUNNING:
        blocks.append(
            Block(
                Check.CAMPAIGN_NOT_RUNNING,
                _("The campaign is %(state)s.") % {"state": campaign.get_state_display()},
                False,
            )
        )
    if campaign.max_attempts and attempts >= campaign.max_attempts and not requested_callback:
        blocks.append(
            Block(
                Check.ATTEMPTS_EXHAUSTED,
                _("All %(n)s attempts have been used.") % {"n": campaign.max_attempts},
                True,
            )
        )
    cap = campaign.frequency_cap_contacts
    if cap and facts.recent_contacts >= cap and not requested_callback:
        until = (
            facts.capping_contact_at + timedelta(days=campaign.frequency_cap_days)
            if facts.capping_contact_at
            else None
        )
        blocks.append(
            Block(
                Check.FREQUENCY_CAP,
                _(
                    "Contacted %(count)s times in the last %(days)s days "
                    "(at most %(cap)s across all campaigns)."
                )
                % {"count": facts.recent_contacts, "days": campaign.frequency_cap_days, "cap": cap},
                False,
                until,
            )
        )
    window = None
    if campaign.channel == Channel.CALL and check_window:
        window = calling_window(campaign, time_zone=facts.time_zone, country=facts.country, now=now)
        if not window.open:
            blocks.append(
                Block(
                    Check.OUTSIDE_WINDOW,
                    _("Outside the calling window: %(reason)s.") % {"reason": window.reason},
                    window.opens_at is None and bool(campaign.ends_on),
                    window.opens_at,
                )
            )
    phones = facts.usable_phones() if campaign.channel == Channel.CALL else []
    return Verdict(blocks, window, phones[0] if phones else None)


def callback_time_allowed(
    campaign: Campaign, moment: datetime, *, time_zone: str, country: str
) -> Window:
    """The window at a proposed callback time (calls only); ``open`` False means refuse it."""
    if campaign.channel != Channel.CALL:
        zone, fallback = customer_zone(time_zone, campaign)
        return Window(True, str(zone.key), fallback, moment.astimezone(zone))
    return calling_window(campaign, time_zone=time_zone, country=country, now=moment)
