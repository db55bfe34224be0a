"""Segment rules as data: validate the JSON kept in ``Segment.conditions`` and turn it into a Q.

A rule is a tree of nodes::

    {"all": [node, ...]}    every child matches ({"all": []} and {} match every customer)
    {"any": [node, ...]}    at least one child matches (needs at least one child)
    {"not": node}           the child does not match
    {"field": "r", "op": "in", "value": [4, 5]}    a condition (some fields take one extra key)

Groups nest at most ``MAX_DEPTH`` levels (the top-level group is level 1; conditions do not
count) and a rule holds at most ``MAX_CONDITIONS`` conditions. ``FIELDS`` is the catalogue: a
field is one ``FieldSpec`` entry saying which operators it takes, what a valid value is and how
it becomes a ``Q`` over ``CustomerRfm``. Values only ever reach SQL as query parameters.

Definitions the fields rely on:

* **Days ago.** A timestamp ``t`` is ``(reference_date - local date of t).days`` days ago, the
  local date being taken in the default time zone (``settings.TIME_ZONE``). This is how
  ``CustomerRfm.recency_days`` is defined for the last purchase, so on the scoring date
  ``last_purchase_days_ago`` equals ``recency_days``. "N or more days ago" therefore means
  ``t < start of day (reference_date - (N - 1))`` and "N or fewer days ago" means
  ``t >= start of day (reference_date - N)``; e.g. ``last_purchase_days_ago gte 180`` is
  ``last_purchase_at < 00:00 of reference_date - 179 days`` (local time). A timestamp after the
  reference date is a negative number of days (so it satisfies ``lte``). ``recency_days`` itself
  is the stored value from the last scoring run, compared as a plain number.
  ``category_bought`` counts purchases up to the end of the reference date; ``within_days: N``
  keeps those at most N days ago (N = 0: on the reference date itself).
* **Contact history** (``contacted``, ``reached``, ``converted_by_campaign``) is read from the
  logged contact attempts (``outreach.ContactAttempt``) up to the end of the reference date, like
  purchases; ``within_days: N`` keeps those at most N days ago. ``reached`` and
  ``converted_by_campaign`` use the flags copied onto the attempt when it was logged (reached in
  person; success, i.e. converted). Refusals are ``product_refused`` (``is_true`` with
  ``within_days``: refused any product in the last N days). A campaign named in a rule must
  exist when the rule is saved (``validate_conditions``).
* **Age** is whole years at the reference date, the birthday counting from its own day (born
  1990-05-10: 34 on 2025-05-09, 35 on 2025-05-10; born on 29 February: a year older on 1 March in
  common years). It is translated into ``birth_date`` ranges, so no SQL date arithmetic is needed.
* **Missing values.** A comparison never matches a missing value (no purchase, no birth date, no
  such attribute): ``r ne 5`` leaves out customers without a score; only ``is_null`` finds them.
  ``not`` is the exact complement of its child: every condition is two-valued in SQL (never NULL),
  so ``{"not": c}`` matches exactly the customers ``c`` does not.
* **Tags and attributes** are JSON. PostgreSQL uses JSONB containment (``tags @> '["ゴルフ"]'``)
  and the ``->`` operator. On SQLite, Django's ``contains`` is unsupported and its key paths miss
  keys stored unescaped (the import writes ``"会員ランク"`` as is, the ORM as ``"\\u4f1a…"``), so
  both are read with SQLite's ``json_each`` (decoded keys and values): exact, case-sensitive
  string comparison whichever way the JSON was written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import NotSupportedError
from django.db.models import (
    BooleanField,
    Case,
    Exists,
    Expression,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.fields.json import DataContains
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from customers.models.people import DoNotContact, Gender, ProductRefusal, Purchase

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models.sql.compiler import SQLCompiler

    from customers.models.segments import CustomerRfm

__all__ = [
    "FIELDS",
    "MAX_CONDITIONS",
    "MAX_DEPTH",
    "OPS",
    "ConditionError",
    "FieldSpec",
    "conditions_to_q",
    "describe_conditions",
    "explain_conditions",
    "validate_conditions",
]

MAX_DEPTH = 5
MAX_CONDITIONS = 50
MAX_LIST = 100
MAX_DAYS = 36_500
MAX_COUNT = 2_147_483_647
MAX_ID = 9_223_372_036_854_775_807  # BigAutoField
MAX_AGE = 150
MAX_AMOUNT = Decimal("1e14")
GROUPS = ("all", "any", "not")


class ConditionError(ValidationError):
    """A rule that cannot be used. ``path`` locates the node (``"all[1].any[0]"``, ``""`` = top)."""

    def __init__(
        self,
        message: str,
        code: str | None = None,
        params: dict[str, Any] | None = None,
        *,
        path: str = "",
    ) -> None:
        self.path = path
        params = {"path": path or _("(top level)"), **(params or {})}
        super().__init__(message, code, params)


def _shown(value: Any) -> str:
    """A value as it appears in an error message: JSON, Japanese left readable."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _names(names: Sequence[str]) -> str:
    return ", ".join(names)


# --- Value kinds --------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


def _int_between(low: int, high: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if not _is_int(value):
            return _("not a whole number")
        if not low <= value <= high:
            return _("out of range")
        return None

    return check


def _check_amount(value: Any) -> str | None:
    if not _is_number(value):
        return _("not a number")
    if not 0 <= value < MAX_AMOUNT:
        return _("out of range")
    return None


def _text_up_to(length: int, *, empty: bool) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return _("not text")
        if not value and not empty:
            return _("empty text")
        if len(value) > length:
            return _("longer than %(length)d characters") % {"length": length}
        return None

    return check


def _check_gender(value: Any) -> str | None:
    if not isinstance(value, str):
        return _("not text")
    return None if value in Gender.values else _("not one of the choices")


def _check_country(value: Any) -> str | None:
    if not isinstance(value, str):
        return _("not text")
    ok = len(value) == 2 and value.isascii() and value.isalpha() and value.isupper()
    return None if ok else _("not a two-letter upper-case country code")


def _check_attribute_value(value: Any) -> str | None:
    if isinstance(value, str):
        return (
            None if len(value) <= 400 else _("longer than %(length)d characters") % {"length": 400}
        )
    return None if _is_number(value) else _("neither text nor a number")


def _to_decimal(value: int | float) -> Decimal:
    return Decimal(str(value))


def _show_amount(value: Any) -> str:
    return f"{_to_decimal(value):,}"


def _show_text(value: Any) -> str:
    return str(value) if value != "" else _("(empty)")


def _show_gender(value: Any) -> str:
    return str(Gender(value).label)


def _show_campaign(value: Any) -> str:
    """``#12 夏の休眠掘り起こし``; a campaign deleted since the rule was saved shows as such."""
    from campaigns.models import Campaign

    name = Campaign.objects.filter(pk=value).values_list("name", flat=True).first()
    return f"#{value} {name}" if name is not None else _("#%(id)s (deleted)") % {"id": value}


def _missing_campaigns(values: Sequence[Any]) -> list[Any]:
    from campaigns.models import Campaign

    found = set(Campaign.objects.filter(pk__in=values).values_list("pk", flat=True))
    return [value for value in dict.fromkeys(values) if value not in found]


@dataclass(frozen=True)
class Kind:
    """What one value of a field may be, how it is shown and how it reaches the query."""

    name: str
    allowed: Promise
    check: Callable[[Any], str | None]
    convert: Callable[[Any], Any] = lambda value: value
    show: Callable[[Any], str] = str
    ranges: bool = False  # show runs of whole numbers as 2–4
    # Values that must name an existing row, checked on save only (``validate_conditions``): the
    # values of the list given that name nothing, and the message that says so.
    missing: Callable[[Sequence[Any]], list[Any]] | None = None
    missing_message: Promise | None = None


KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("score", gettext_lazy("whole numbers from 1 to 5"), _int_between(1, 5), ranges=True),
        Kind(
            "days", gettext_lazy("whole numbers of days from 0 to 36500"), _int_between(0, MAX_DAYS)
        ),
        Kind("count", gettext_lazy("whole numbers from 0"), _int_between(0, MAX_COUNT)),
        Kind(
            "amount",
            gettext_lazy("numbers from 0 (below 10¹⁴)"),
            _check_amount,
            convert=_to_decimal,
            show=_show_amount,
        ),
        Kind("age", gettext_lazy("whole numbers of years from 0 to 150"), _int_between(0, MAX_AGE)),
        Kind("month", gettext_lazy("months 1 to 12"), _int_between(1, 12), ranges=True),
        Kind(
            "text",
            gettext_lazy("text of up to 64 characters"),
            _text_up_to(64, empty=True),
            show=_show_text,
        ),
        Kind(
            "gender",
            gettext_lazy("“female”, “male”, “other” or “” (unknown)"),
            _check_gender,
            show=_show_gender,
        ),
        Kind("country", gettext_lazy("two-letter country codes such as “JP”"), _check_country),
        Kind(
            "tag",
            gettext_lazy("non-empty text of up to 100 characters"),
            _text_up_to(100, empty=False),
        ),
        Kind(
            "name",
            gettext_lazy("non-empty text of up to 200 characters"),
            _text_up_to(200, empty=False),
        ),
        Kind(
            "key",
            gettext_lazy("non-empty text of up to 100 characters"),
            _text_up_to(100, empty=False),
        ),
        Kind("attribute", gettext_lazy("text or numbers"), _check_attribute_value),
        Kind("flag", gettext_lazy("true (or leave the value out)"), lambda value: None),
        Kind(
            "campaign",
            gettext_lazy("campaign ids: the number in the campaign's address (/campaigns/12/)"),
            _int_between(1, MAX_ID),
            show=_show_campaign,
            missing=_missing_campaigns,
            missing_message=gettext_lazy(
                "%(path)s: “%(field)s” names campaign %(value)s, which does not exist. Use the number in the campaign's address (/campaigns/12/)."
            ),
        ),
    )
}


# --- Operators ----------------------------------------------------------------------------------

ONE, LIST, PAIR, BOOL, FLAG = "one", "list", "pair", "bool", "flag"


@dataclass(frozen=True)
class Op:
    """An operator: the shape of its value and how a condition using it reads."""

    name: str
    shape: str
    template: Promise
    template_false: Promise | None = None  # for ``is_null`` with value false


OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op("eq", ONE, gettext_lazy("%(field)s = %(value)s")),
        Op("ne", ONE, gettext_lazy("%(field)s ≠ %(value)s")),
        Op("gt", ONE, gettext_lazy("%(field)s > %(value)s")),
        Op("lt", ONE, gettext_lazy("%(field)s < %(value)s")),
        Op("gte", ONE, gettext_lazy("%(field)s ≥ %(value)s")),
        Op("lte", ONE, gettext_lazy("%(field)s ≤ %(value)s")),
        Op("in", LIST, gettext_lazy("%(field)s in %(value)s")),
        Op("not_in", LIST, gettext_lazy("%(field)s not in %(value)s")),
        Op("between", PAIR, gettext_lazy("%(field)s between %(low)s and %(high)s")),
        Op(
            "is_null",
            BOOL,
            gettext_lazy("%(field)s is empty"),
            template_false=gettext_lazy("%(field)s is set"),
        ),
        Op("contains_any", LIST, gettext_lazy("%(field)s include any of %(value)s")),
        Op("contains_all", LIST, gettext_lazy("%(field)s include all of %(value)s")),
        Op("any_of", LIST, gettext_lazy("%(field)s any of %(value)s")),
        Op("is_true", FLAG, gettext_lazy("%(field)s: yes")),
        Op("is_false", FLAG, gettext_lazy("%(field)s: no")),
    )
}

COMPARE = ("eq", "ne", "gte", "lte", "gt", "lt", "between", "is_null")
SCORE_OPS = ("eq", "ne", "in", "not_in", "gte", "lte", "between", "is_null")
TEXT_OPS = ("eq", "ne", "in", "not_in")


# --- The catalogue ------------------------------------------------------------------------------

# (op, converted value, the whole condition, reference date) -> Q over CustomerRfm
Builder = Callable[[str, Any, Mapping[str, Any], date], Q]
# (CustomerRfm, the whole condition, reference date) -> the customer's value, for explanations
Reader = Callable[["CustomerRfm", Mapping[str, Any], date], Any]


@dataclass(frozen=True)
class Extra:
    """A key a condition on some field may or must carry besides field/op/value."""

    name: str
    kind: str
    required: bool = False
    # How the condition reads when the key is present: one template, or one per operator.
    template: Promise | Mapping[str, Promise] | None = None


@dataclass(frozen=True)
class FieldSpec:
    """One field a rule can test: its label, value kind, operators and translation to a Q."""

    name: str
    label: Promise
    type: str
    ops: tuple[str, ...]
    build: Builder
    read: Reader
    extras: tuple[Extra, ...] = ()
    templates: Mapping[str, Promise] = field(default_factory=dict)

    @property
    def kind(self) -> Kind:
        return KINDS[self.type]

    def to_q(self, condition: Mapping[str, Any], reference_date: date) -> Q:
        """The Q for a condition on this field (the condition must already be valid)."""
        op = condition["op"]
        return self.build(
            op, _convert(self.kind, OPS[op], condition.get("value")), condition, reference_date
        )

    def label_for(self, condition: Mapping[str, Any]) -> str:
        """The field's name as shown in a description of this condition."""
        if self.name == "attribute":
            return _("Attribute “%(key)s”") % {"key": condition.get("key", "")}
        return str(self.label)


def _convert(kind: Kind, op: Op, value: Any) -> Any:
    if op.shape in (LIST, PAIR):
        return [kind.convert(item) for item in value]
    if op.shape == ONE:
        return kind.convert(value)
    return value


def _day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the default time zone."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_default_timezone())


def _days_ago(moment: datetime | None, reference_date: date) -> int | None:
    if moment is None:
        return None
    local = timezone.localtime(moment, timezone.get_default_timezone()).date()
    return (reference_date - local).days


def _born_by(reference_date: date, years: int) -> date:
    """The latest birth date of someone who is at least ``years`` old on ``reference_date``."""
    year = reference_date.year - years
    if year < date.min.year:
        return date.min
    try:
        return reference_date.replace(year=year)
    except ValueError:  # 29 February in a common year: born on the 28th is old enough
        return date(year, 2, 28)


def _age(birth_date: date | None, reference_date: date) -> int | None:
    if birth_date is None:
        return None
    before_birthday = (reference_date.month, reference_date.day) < (
        birth_date.month,
        birth_date.day,
    )
    return reference_date.year - birth_date.year - before_birthday


def _column(path: str, *, nullable: bool) -> Builder:
    """Plain comparisons on a column (through ``customer__`` for the customer's own fields)."""

    def build(op: str, value: Any, condition: Mapping[str, Any], reference_date: date) -> Q:
        if op == "is_null":
            return Q(**{f"{path}__isnull": value})
        if op in ("ne", "not_in"):
            negated = ~Q(**{path if op == "ne" else f"{path}__in": value})
            return Q(**{f"{path}__isnull": False}) & negated if nullable else negated
        if op == "between":
            return Q(**{f"{path}__gte": value[0], f"{path}__lte": value[1]})
        return Q(**{path if op == "eq" else f"{path}__{op}": value})

    return build


def _days_ago_of(path: str) -> Builder:
    """Whole days between a timestamp's local date and the reference date, as a range on it."""

    def build(op: str, value: Any, condition: Mapping[str, Any], reference_date: date) -> Q:
        def at_least(days: int) -> Q:  # local date <= reference - days
            return Q(**{f"{path}__lt": _day_start(reference_date - timedelta(days=days - 1))})

        def at_most(days: int) -> Q:  # local date >= reference - days
            return Q(**{f"{path}__gte": _day_start(reference_date - timedelta(days=days))})

        if op == "is_null":
            return Q(**{f"{path}__isnull": value})
        if op == "ne":
            return at_least(value + 1) | at_most(value - 1)
        return {
            "eq": lambda: at_least(value) & at_most(value),
            "gte": lambda: at_least(value),
            "gt": lambda: at_least(value + 1),
            "lte": lambda: at_most(value),
            "lt": lambda: at_most(value - 1),
            "between": lambda: at_least(value[0]) & at_most(value[1]),
        }[op]()

    return build


def _read_days_ago(attribute: str) -> Reader:
    return lambda rfm, condition, reference_date: _days_ago(getattr(rfm, attribute), reference_date)


def _build_age(op: str, value: Any, condition: Mapping[str, Any], reference_date: date) -> Q:
    low, high = (value, MAX_AGE) if op == "gte" else (0, value) if op == "lte" else value
    q = Q(customer__birth_date__lte=_born_by(reference_date, low))
    if high < MAX_AGE:
        q &= Q(customer__birth_date__gt=_born_by(reference_date, high + 1))
    return q


def _build_birth_month(
    op: str, value: Any, condition: Mapping[str, Any], reference_date: date
) -> Q:
    return Q(customer__birth_date__month__in=value if op == "in" else [value])


def _build_tags(op: str, value: Any, condition: Mapping[str, Any], reference_date: date) -> Q:
    return Q(JsonArrayHasStrings("customer__tags", value, every=op == "contains_all"))


def _build_attribute(op: str, value: Any, condition: Mapping[str, Any], reference_date: date) -> Q:
    return Q(JsonKeyIn("customer__attributes", condition["key"], value if op == "in" else [value]))


def _purchases(
    customer: Any, value: list[str], condition: Mapping[str, Any], reference_date: date
) -> QuerySet[Purchase]:
    """Purchases in one of the categories, up to the end of the reference date (and within N)."""
    purchases = Purchase.objects.filter(
        customer=customer,
        category__in=value,
        purchased_at__lt=_day_start(reference_date + timedelta(days=1)),
    )
    within = condition.get("within_days")
    if within is not None:
        purchases = purchases.filter(
            purchased_at__gte=_day_start(reference_date - timedelta(days=within))
        )
    return purchases


def _build_category(op: str, value: Any, condition: Mapping[str, Any], reference_date: date) -> Q:
    return Q(Exists(_purchases(OuterRef("customer"), value, condition, reference_date)))


def _read_category(
    rfm: CustomerRfm, condition: Mapping[str, Any], reference_date: date
) -> list[str]:
    bought = _purchases(rfm.customer_id, condition["value"], condition, reference_date)
    return sorted(set(bought.values_list("category", flat=True)))


def _refusals(
    customer: Any, condition: Mapping[str, Any], reference_date: date
) -> QuerySet[ProductRefusal]:
    """The customer's refusals; with ``within_days``, those of the N days up to the reference date.

    Without a window every refusal counts, whenever it was logged: a refusal never expires.
    """
    refusals = ProductRefusal.objects.filter(customer=customer)
    if condition["op"] == "any_of":
        refusals = refusals.filter(product__in=condition["value"])
    within = condition.get("within_days")
    if within is not None:
        refusals = refusals.filter(
            refused_at__gte=_day_start(reference_date - timedelta(days=within)),
            refused_at__lt=_day_start(reference_date + timedelta(days=1)),
        )
    return refusals


def _build_refused(op: str, value: Any, condition: Mapping[str, Any], reference_date: date) -> Q:
    return Q(Exists(_refusals(OuterRef("customer"), condition, reference_date)))


def _read_refused(
    rfm: CustomerRfm, condition: Mapping[str, Any], reference_date: date
) -> list[str]:
    return sorted(
        _refusals(rfm.customer_id, condition, reference_date).values_list("product", flat=True)
    )


def _build_do_not_contact(
    op: str, value: Any, condition: Mapping[str, Any], reference_date: date
) -> Q:
    listed = Q(
        Exists(
            DoNotContact.objects.filter(
                scope=DoNotContact.Scope.CUSTOMER, customer=OuterRef("customer")
            )
        )
    )
    return listed if op == "is_true" else ~listed


def _read_do_not_contact(
    rfm: CustomerRfm, condition: Mapping[str, Any], reference_date: date
) -> bool:
    return DoNotContact.objects.filter(
        scope=DoNotContact.Scope.CUSTOMER, customer=rfm.customer_id
    ).exists()


def _attempts(
    customer: Any,
    condition: Mapping[str, Any],
    reference_date: date,
    *,
    window: bool = True,
    **flags: Any,
) -> QuerySet[Any]:
    """The customer's contact attempts up to the end of the reference date (and within N days).

    ``flags`` narrow them (``reached=True``, ``success=True``); the flags are the ones copied onto
    the attempt when it was logged, so editing the disposition catalogue later changes nothing.
    """
    from outreach.models import ContactAttempt  # outreach imports customers: import when used

    attempts = ContactAttempt.objects.filter(
        customer=customer,
        attempted_at__lt=_day_start(reference_date + timedelta(days=1)),
        **flags,
    )
    if condition.get("op") == "eq":
        attempts = attempts.filter(campaign_id=condition["value"])
    elif condition.get("op") == "any_of":
        attempts = attempts.filter(campaign_id__in=condition["value"])
    within = condition.get("within_days")
    if window and within is not None:
        attempts = attempts.filter(
            attempted_at__gte=_day_start(reference_date - timedelta(days=within))
        )
    return attempts


def _contact_history(**flags: Any) -> tuple[Builder, Reader]:
    """A field over the contact attempts with ``flags``: is_true / is_false, or a campaign.

    The explanation reads the local date of the latest such attempt up to the reference date,
    inside the window or not, so that a miss shows how far off it was (None: there is none).
    """

    def build(op: str, value: Any, condition: Mapping[str, Any], reference_date: date) -> Q:
        found = Q(Exists(_attempts(OuterRef("customer"), condition, reference_date, **flags)))
        return ~found if op == "is_false" else found

    def read(rfm: CustomerRfm, condition: Mapping[str, Any], reference_date: date) -> date | None:
        attempts = _attempts(rfm.customer_id, condition, reference_date, window=False, **flags)
        latest = attempts.order_by("-attempted_at").values_list("attempted_at", flat=True).first()
        if latest is None:
            return None
        return timezone.localtime(latest, timezone.get_default_timezone()).date()

    return build, read


def _read(attribute: str) -> Reader:
    return lambda rfm, condition, reference_date: getattr(rfm, attribute)


def _read_customer(attribute: str) -> Reader:
    return lambda rfm, condition, reference_date: getattr(rfm.customer, attribute)


def _read_attribute(rfm: CustomerRfm, condition: Mapping[str, Any], reference_date: date) -> Any:
    attributes = rfm.customer.attributes
    return attributes.get(condition["key"]) if isinstance(attributes, dict) else None


def _score(name: str, label: Promise) -> FieldSpec:
    return FieldSpec(name, label, "score", SCORE_OPS, _column(name, nullable=True), _read(name))


def _number(name: str, label: Promise, kind: str, *, nullable: bool = False) -> FieldSpec:
    return FieldSpec(name, label, kind, COMPARE, _column(name, nullable=nullable), _read(name))


def _days_since(name: str, label: Promise, column: str) -> FieldSpec:
    return FieldSpec(name, label, "days", COMPARE, _days_ago_of(column), _read_days_ago(column))


def _text(name: str, label: Promise, kind: str) -> FieldSpec:
    return FieldSpec(
        name,
        label,
        kind,
        TEXT_OPS,
        _column(f"customer__{name}", nullable=False),
        _read_customer(name),
    )


def _contact_field(
    name: str,
    label: Promise,
    *,
    yes: Promise,
    no: Promise,
    yes_within: Promise,
    no_within: Promise,
    **flags: Any,
) -> FieldSpec:
    """Whether the customer has a contact attempt with ``flags`` (ever, or within N days)."""
    return FieldSpec(
        name,
        label,
        "flag",
        ("is_true", "is_false"),
        *_contact_history(**flags),
        templates={"is_true": yes, "is_false": no},
        extras=(
            Extra("within_days", "days", template={"is_true": yes_within, "is_false": no_within}),
        ),
    )


FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        _score("r", gettext_lazy("R")),
        _score("f", gettext_lazy("F")),
        _score("m", gettext_lazy("M")),
        _number("recency_days", gettext_lazy("Recency (days)"), "days", nullable=True),
        _number("frequency", gettext_lazy("Orders in window"), "count"),
        _number("monetary", gettext_lazy("Amount in window"), "amount"),
        _number("purchase_count", gettext_lazy("Orders ever"), "count"),
        _number("total_amount", gettext_lazy("Amount ever"), "amount"),
        _days_since(
            "first_purchase_days_ago",
            gettext_lazy("Days since first purchase"),
            "first_purchase_at",
        ),
        _days_since(
            "last_purchase_days_ago", gettext_lazy("Days since last purchase"), "last_purchase_at"
        ),
        _text("prefecture", gettext_lazy("Prefecture"), "text"),
        _text("gender", gettext_lazy("Gender"), "gender"),
        _text("country", gettext_lazy("Country"), "country"),
        FieldSpec(
            "age",
            gettext_lazy("Age"),
            "age",
            ("gte", "lte", "between"),
            _build_age,
            lambda rfm, condition, reference_date: _age(rfm.customer.birth_date, reference_date),
        ),
        FieldSpec(
            "birth_month",
            gettext_lazy("Birth month"),
            "month",
            ("eq", "in"),
            _build_birth_month,
            lambda rfm, condition, reference_date: (
                rfm.customer.birth_date.month if rfm.customer.birth_date else None
            ),
        ),
        FieldSpec(
            "tags",
            gettext_lazy("Tags"),
            "tag",
            ("contains_any", "contains_all"),
            _build_tags,
            _read_customer("tags"),
        ),
        FieldSpec(
            "category_bought",
            gettext_lazy("Bought category"),
            "name",
            ("any_of",),
            _build_category,
            _read_category,
            extras=(
                Extra(
                    "within_days",
                    "days",
                    template=gettext_lazy("%(field)s any of %(value)s within %(within_days)s days"),
                ),
            ),
        ),
        FieldSpec(
            "product_refused",
            gettext_lazy("Refused product"),
            "name",
            ("any_of", "is_true"),
            _build_refused,
            _read_refused,
            templates={"is_true": gettext_lazy("Refused any product")},
            extras=(
                Extra(
                    "within_days",
                    "days",
                    template={
                        "any_of": gettext_lazy("%(field)s %(value)s within %(within_days)s days"),
                        "is_true": gettext_lazy("Refused any product within %(within_days)s days"),
                    },
                ),
            ),
        ),
        _contact_field(
            "contacted",
            gettext_lazy("Contacted (any attempt)"),
            yes=gettext_lazy("Contacted"),
            no=gettext_lazy("Not contacted"),
            yes_within=gettext_lazy("Contacted within %(within_days)s days"),
            no_within=gettext_lazy("Not contacted within %(within_days)s days"),
        ),
        _contact_field(
            "reached",
            gettext_lazy("Reached in person"),
            yes=gettext_lazy("Reached in person"),
            no=gettext_lazy("Never reached in person"),
            yes_within=gettext_lazy("Reached in person within %(within_days)s days"),
            no_within=gettext_lazy("Not reached in person within %(within_days)s days"),
            reached=True,
        ),
        FieldSpec(
            "converted_by_campaign",
            gettext_lazy("Converted by campaign"),
            "campaign",
            ("eq", "any_of", "is_true"),
            *_contact_history(success=True),
            templates={
                "eq": gettext_lazy("Converted by campaign %(value)s"),
                "any_of": gettext_lazy("Converted by any of campaigns %(value)s"),
                "is_true": gettext_lazy("Converted by any campaign"),
            },
            extras=(
                Extra(
                    "within_days",
                    "days",
                    template={
                        "eq": gettext_lazy(
                            "Converted by campaign %(value)s within %(within_days)s days"
                        ),
                        "any_of": gettext_lazy(
                            "Converted by any of campaigns %(value)s within %(within_days)s days"
                        ),
                        "is_true": gettext_lazy(
                            "Converted by any campaign within %(within_days)s days"
                        ),
                    },
                ),
            ),
        ),
        FieldSpec(
            "do_not_contact",
            gettext_lazy("Do not contact"),
            "flag",
            ("is_true", "is_false"),
            _build_do_not_contact,
            _read_do_not_contact,
        ),
        FieldSpec(
            "attribute",
            gettext_lazy("Attribute"),
            "attribute",
            ("eq", "in"),
            _build_attribute,
            _read_attribute,
            extras=(Extra("key", "key", required=True),),
        ),
    )
}


# --- JSON tests that are exact on both databases --------------------------------------------------


class _JsonTest(Expression):
    """A boolean test on a JSON column; never NULL, so ``NOT`` is its exact complement."""

    conditional = True

    def __init__(self, column: str) -> None:
        super().__init__(output_field=BooleanField())
        self.source: Any = F(column)

    def get_source_expressions(self) -> list[Any]:
        return [self.source]

    def set_source_expressions(self, exprs: list[Any]) -> None:
        (self.source,) = exprs

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> tuple[str, tuple]:
        raise NotSupportedError(
            f"Segment conditions on JSON need PostgreSQL or SQLite, not {connection.vendor}."
        )


class JsonArrayHasStrings(_JsonTest):
    """The JSON array contains any (or, with ``every``, all) of these strings, compared exactly."""

    def __init__(self, column: str, strings: Sequence[str], *, every: bool = False) -> None:
        super().__init__(column)
        self.strings = list(dict.fromkeys(strings))
        self.every = every

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, tuple]:
        groups = [self.strings] if self.every else [[string] for string in self.strings]
        parts, params = [], []
        for group in groups:  # tags @> '["ゴルフ"]'::jsonb, as customer__tags__contains=[…]
            sql, part_params = compiler.compile(DataContains(self.source, group))
            parts.append(sql)
            params.extend(part_params)
        return "(" + " OR ".join(parts) + ")", tuple(params)

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, tuple]:
        column, params = compiler.compile(self.source)
        marks = ", ".join(["%s"] * len(self.strings))
        found = (
            "(SELECT COUNT(DISTINCT item.value) FROM json_each("
            f"CASE WHEN json_type({column}) = 'array' THEN {column} END) AS item"
            f" WHERE item.type = 'text' AND item.value IN ({marks}))"
        )
        wanted = len(self.strings) if self.every else 1
        return f"({found} >= %s)", (*params, *params, *self.strings, wanted)


class JsonKeyIn(_JsonTest):
    """The JSON object has ``key`` and its value equals one of ``values`` (strings or numbers)."""

    def __init__(self, column: str, key: str, values: Sequence[str | int | float]) -> None:
        super().__init__(column)
        self.key = key
        self.values = list(values)

    def as_postgresql(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, tuple]:
        column, params = compiler.compile(self.source)
        marks = ", ".join(["%s::jsonb"] * len(self.values))
        encoded = [json.dumps(value) for value in self.values]
        return f"COALESCE(({column} -> %s::text) IN ({marks}), false)", (
            *params,
            self.key,
            *encoded,
        )

    def as_sqlite(
        self, compiler: SQLCompiler, connection: BaseDatabaseWrapper
    ) -> tuple[str, tuple]:
        column, params = compiler.compile(self.source)
        tests, values = [], []
        for value in self.values:
            types = "'text'" if isinstance(value, str) else "'integer', 'real'"
            tests.append(f"(entry.type IN ({types}) AND entry.value = %s)")
            values.append(value)
        sql = (
            f"EXISTS (SELECT 1 FROM json_each(CASE WHEN json_type({column}) = 'object' THEN {column} END)"
            f" AS entry WHERE entry.key = %s AND ({' OR '.join(tests)}))"
        )
        return sql, (*params, *params, self.key, *values)


# --- Validation ---------------------------------------------------------------------------------


def _child_path(path: str, step: str) -> str:
    return f"{path}.{step}" if path else step


class _Validator:
    def __init__(self) -> None:
        self.conditions = 0

    def node(self, node: Any, path: str, depth: int) -> None:
        if not isinstance(node, Mapping):
            raise ConditionError(
                _("%(path)s: expected an object (a group or a condition), got %(value)s."),
                code="not_an_object",
                params={"value": _shown(node)},
                path=path,
            )
        groups = [key for key in GROUPS if key in node]
        if groups:
            self.group(node, groups[0], path, depth + 1)
        elif node:
            self.condition(node, path)

    def group(self, node: Mapping[str, Any], group: str, path: str, depth: int) -> None:
        others = [key for key in node if key != group]
        if others:
            raise ConditionError(
                _(
                    "%(path)s: unknown key(s) %(keys)s next to “%(group)s”. A group has exactly one key: all, any or not."
                ),
                code="unknown_key",
                params={"keys": _names([f"“{key}”" for key in others]), "group": group},
                path=path,
            )
        if depth > MAX_DEPTH:
            raise ConditionError(
                _("%(path)s: groups are nested too deeply; at most %(max)d levels are allowed."),
                code="too_deep",
                params={"max": MAX_DEPTH},
                path=path,
            )
        children = node[group]
        if group == "not":
            self.node(children, _child_path(path, "not"), depth)
            return
        if not isinstance(children, list):
            raise ConditionError(
                _("%(path)s: “%(group)s” needs a list of conditions, got %(value)s."),
                code="not_a_list",
                params={"group": group, "value": _shown(children)},
                path=path,
            )
        if group == "any" and not children:
            raise ConditionError(
                _("%(path)s: “any” needs at least one condition (an empty “any” matches nobody)."),
                code="empty_any",
                path=path,
            )
        for index, child in enumerate(children):
            self.node(child, _child_path(path, f"{group}[{index}]"), depth)

    def condition(self, node: Mapping[str, Any], path: str) -> None:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise ConditionError(
                _("%(path)s: too many conditions; at most %(max)d are allowed."),
                code="too_many",
                params={"max": MAX_CONDITIONS},
                path=path,
            )
        if "field" not in node:
            raise ConditionError(
                _(
                    "%(path)s: unknown key(s) %(keys)s. A node is a group (all, any, not) or a condition with “field”, “op” and “value”."
                ),
                code="unknown_key",
                params={"keys": _names([f"“{key}”" for key in node])},
                path=path,
            )
        name = node["field"]
        spec = FIELDS.get(name) if isinstance(name, str) else None
        if spec is None:
            raise ConditionError(
                _("%(path)s: unknown field “%(field)s”. Known fields: %(known)s."),
                code="unknown_field",
                params={
                    "field": name if isinstance(name, str) else _shown(name),
                    "known": _names(list(FIELDS)),
                },
                path=path,
            )
        allowed_keys = ["field", "op", "value", *(extra.name for extra in spec.extras)]
        unknown = [key for key in node if key not in allowed_keys]
        if unknown:
            raise ConditionError(
                _(
                    "%(path)s: unknown key(s) %(keys)s in a condition on “%(field)s”. Allowed keys: %(allowed)s."
                ),
                code="unknown_key",
                params={
                    "keys": _names([f"“{key}”" for key in unknown]),
                    "field": name,
                    "allowed": _names(allowed_keys),
                },
                path=path,
            )
        op_name = node.get("op")
        if op_name not in spec.ops:
            raise ConditionError(
                _(
                    "%(path)s: operator %(op)s is not allowed for “%(field)s”. Allowed operators: %(allowed)s."
                ),
                code="bad_op",
                params={
                    "op": f"“{op_name}”" if isinstance(op_name, str) else _shown(op_name),
                    "field": name,
                    "allowed": _names(spec.ops),
                },
                path=path,
            )
        for extra in spec.extras:
            if extra.name in node:
                self.value(KINDS[extra.kind], node[extra.name], path, f"{name}.{extra.name}")
            elif extra.required:
                raise ConditionError(
                    _("%(path)s: a condition on “%(field)s” needs “%(key)s”."),
                    code="missing_key",
                    params={"field": name, "key": extra.name},
                    path=path,
                )
        self.op_value(spec, OPS[op_name], node, path)

    def op_value(self, spec: FieldSpec, op: Op, node: Mapping[str, Any], path: str) -> None:
        params = {"field": spec.name, "op": op.name}
        if op.shape == FLAG:
            if node.get("value", True) is not True:
                raise ConditionError(
                    _("%(path)s: “%(field)s” %(op)s takes no value (or true), got %(value)s."),
                    code="bad_value",
                    params={**params, "value": _shown(node["value"])},
                    path=path,
                )
            return
        if "value" not in node:
            raise ConditionError(
                _("%(path)s: the condition “%(field)s” %(op)s needs a “value”."),
                code="missing_value",
                params=params,
                path=path,
            )
        value = node["value"]
        if op.shape == BOOL:
            if not isinstance(value, bool):
                raise ConditionError(
                    _("%(path)s: “%(field)s” %(op)s takes true or false, got %(value)s."),
                    code="bad_value",
                    params={**params, "value": _shown(value)},
                    path=path,
                )
        elif op.shape == ONE:
            self.value(spec.kind, value, path, spec.name)
        elif not isinstance(value, list):
            raise ConditionError(
                _("%(path)s: “%(field)s” %(op)s needs a list, got %(value)s."),
                code="not_a_list",
                params={**params, "value": _shown(value)},
                path=path,
            )
        elif op.shape == PAIR:
            if len(value) != 2:
                raise ConditionError(
                    _("%(path)s: “%(field)s” between needs [low, high], got %(value)s."),
                    code="bad_between",
                    params={**params, "value": _shown(value)},
                    path=path,
                )
            for item in value:
                self.value(spec.kind, item, path, spec.name)
            if value[0] > value[1]:
                raise ConditionError(
                    _(
                        "%(path)s: “%(field)s” between %(value)s: the low end is above the high end."
                    ),
                    code="bad_between",
                    params={**params, "value": _shown(value)},
                    path=path,
                )
        else:
            if not value or len(value) > MAX_LIST:
                raise ConditionError(
                    _(
                        "%(path)s: the list for “%(field)s” %(op)s must hold 1 to %(max)d values, got %(count)d."
                    ),
                    code="bad_list",
                    params={**params, "max": MAX_LIST, "count": len(value)},
                    path=path,
                )
            for item in value:
                self.value(spec.kind, item, path, spec.name)

    def value(self, kind: Kind, value: Any, path: str, name: str) -> None:
        reason = kind.check(value)
        if reason:
            raise ConditionError(
                _(
                    "%(path)s: %(value)s is not a valid value for “%(field)s” (%(reason)s). Allowed: %(allowed)s."
                ),
                code="bad_value",
                params={
                    "value": _shown(value),
                    "field": name,
                    "reason": reason,
                    "allowed": kind.allowed,
                },
                path=path,
            )


def _check_shape(conditions: dict[str, Any]) -> None:
    """The checks that need no database: well-formed, known fields, operators and values."""
    _Validator().node(conditions, "", 0)


def _check_references(conditions: dict[str, Any]) -> None:
    """Values that must name an existing row (campaigns) do; the rule's shape is already valid."""
    for path, leaf in _leaves(conditions):
        spec = FIELDS[leaf["field"]]
        op = OPS[leaf["op"]]
        if spec.kind.missing is None or op.shape not in (ONE, LIST):
            continue
        values = leaf["value"] if op.shape == LIST else [leaf["value"]]
        missing = spec.kind.missing(values)
        if missing:
            raise ConditionError(
                spec.kind.missing_message,
                code="does_not_exist",
                params={"field": spec.name, "value": _shown(missing[0])},
                path=path,
            )


def validate_conditions(conditions: dict[str, Any]) -> None:
    """Raise ``ConditionError`` if the rule cannot be saved; return None if it can.

    Besides the shape of the tree, every campaign a condition names must exist. Compiling,
    explaining and describing check the shape only: a campaign deleted after the rule was saved
    makes its condition match nobody (its attempts went with it) instead of stopping every run.
    """
    _check_shape(conditions)
    _check_references(conditions)


# --- Translation, explanation, description ------------------------------------------------------


def _leaves(node: Mapping[str, Any], path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every condition of a valid rule with its path, in document order."""
    for group in GROUPS:
        if group in node:
            if group == "not":
                yield from _leaves(node["not"], _child_path(path, "not"))
            else:
                for index, child in enumerate(node[group]):
                    yield from _leaves(child, _child_path(path, f"{group}[{index}]"))
            return
    if node:
        yield path, node


# Explicit "everyone" / "nobody": unlike Q() they can stand in When() and negate correctly.
_EVERYONE = Q(pk__isnull=False)
_NOTHING = Q(pk__in=[])


def _build(node: Mapping[str, Any], reference_date: date) -> Q | None:
    """The Q of a valid node; None stands for "every customer" (so it survives ``any`` and ``not``)."""
    if "all" in node:
        parts = [_build(child, reference_date) for child in node["all"]]
        kept = [part for part in parts if part is not None]
        return _combine(kept, Q.AND) if kept else None
    if "any" in node:
        parts = [_build(child, reference_date) for child in node["any"]]
        return None if any(part is None for part in parts) else _combine(parts, Q.OR)
    if "not" in node:
        inner = _build(node["not"], reference_date)
        return _NOTHING if inner is None else ~inner
    if not node:
        return None
    return FIELDS[node["field"]].to_q(node, reference_date)


def _combine(parts: list[Q], connector: str) -> Q:
    combined = parts[0]
    for part in parts[1:]:
        combined = combined & part if connector == Q.AND else combined | part
    return combined


def _check_reference_date(reference_date: date) -> None:
    if isinstance(reference_date, datetime) or not isinstance(reference_date, date):
        raise TypeError("reference_date must be a date (not a datetime).")


def conditions_to_q(conditions: dict[str, Any], *, reference_date: date) -> Q:
    """Validate the rule and return a Q over ``CustomerRfm``.

    A rule matching everyone gives ``Q(pk__isnull=False)`` rather than ``Q()``, so the result can
    always be used in ``When()`` (first matching segment wins) and ``~`` of it matches nobody.
    """
    _check_reference_date(reference_date)
    _check_shape(conditions)
    q = _build(conditions, reference_date)
    return _EVERYONE if q is None else q


def explain_conditions(
    conditions: dict[str, Any], rfm: CustomerRfm, *, reference_date: date
) -> list[dict[str, Any]]:
    """One entry per condition, in order: what it asks, the customer's value, whether it matched.

    ``matched`` is read from the database in one query (the stored row of ``rfm``), with the very
    Q that ``conditions_to_q`` uses, so combining the entries with all/any/not always agrees with
    filtering. ``actual`` is read from ``rfm`` and its customer as given.
    """
    from customers.models.segments import CustomerRfm

    _check_reference_date(reference_date)
    _check_shape(conditions)
    leaves = list(_leaves(conditions))
    if not leaves:
        return []
    tests = {
        f"leaf_{index}": Case(
            When(FIELDS[leaf["field"]].to_q(leaf, reference_date), then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        )
        for index, (_path, leaf) in enumerate(leaves)
    }
    matched = CustomerRfm.objects.filter(pk=rfm.pk).annotate(**tests).values(*tests).get()
    return [
        {
            "path": path,
            "field": leaf["field"],
            "op": leaf["op"],
            "value": leaf.get("value"),
            "label": _describe_leaf(leaf),
            "actual": FIELDS[leaf["field"]].read(rfm, leaf, reference_date),
            "matched": bool(matched[f"leaf_{index}"]),
        }
        for index, (path, leaf) in enumerate(leaves)
    ]


def _show_values(kind: Kind, values: list[Any]) -> str:
    """``[4, 5]`` → ``4–5`` (runs of whole numbers where the kind allows), else ``a, b``."""
    if kind.ranges and all(_is_int(value) for value in values):
        ordered = sorted(set(values))
        runs: list[list[int]] = []
        for value in ordered:
            if runs and value == runs[-1][-1] + 1:
                runs[-1].append(value)
            else:
                runs.append([value])
        return ", ".join(f"{run[0]}–{run[-1]}" if len(run) > 1 else str(run[0]) for run in runs)
    return ", ".join(kind.show(value) for value in values)


def _describe_leaf(leaf: Mapping[str, Any]) -> str:
    spec = FIELDS[leaf["field"]]
    op = OPS[leaf["op"]]
    value = leaf.get("value")
    params: dict[str, Any] = {"field": spec.label_for(leaf)}
    template = spec.templates.get(op.name, op.template)
    for extra in spec.extras:
        if extra.template is not None and extra.name in leaf:
            if isinstance(extra.template, Mapping):
                template = extra.template.get(op.name, template)
            else:
                template = extra.template
            params[extra.name] = KINDS[extra.kind].show(leaf[extra.name])
    if op.shape == BOOL and value is False and op.template_false is not None:
        template = op.template_false
    if op.shape == LIST:
        params["value"] = _show_values(spec.kind, value)
    elif op.shape == PAIR:
        params["low"], params["high"] = (spec.kind.show(item) for item in value)
    elif op.shape == ONE:
        params["value"] = spec.kind.show(value)
    return str(template) % params


def _describe(node: Mapping[str, Any], *, nested: bool) -> str | None:
    """Text for a valid node; None when the node matches every customer."""
    if "all" in node:
        parts = [
            part for part in (_describe(c, nested=True) for c in node["all"]) if part is not None
        ]
        if not parts:
            return None
        word = pgettext("segment rule", "and")
        text = f" {word} ".join(parts)
    elif "any" in node:
        options = [_describe(child, nested=True) for child in node["any"]]
        if any(option is None for option in options):
            return None
        parts = [option for option in options if option is not None]
        word = pgettext("segment rule", "or")
        text = f" {word} ".join(parts)
    elif "not" in node:
        inner = _describe(node["not"], nested=True)
        return _("nobody") if inner is None else _("not %(condition)s") % {"condition": inner}
    elif not node:
        return None
    else:
        return _describe_leaf(node)
    return f"({text})" if nested and len(parts) > 1 else text


def describe_conditions(conditions: dict[str, Any]) -> str:
    """A one-line description in the active language, e.g. ``R in 4–5 and F ≥ 4``."""
    _check_shape(conditions)
    text = _describe(conditions, nested=False)
    return _("All customers") if text is None else text
