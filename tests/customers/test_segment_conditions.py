"""Segment rules as data: validation messages, the Q over CustomerRfm, explain and describe.

Every case compares the customers a rule selects with a set written by hand, and also checks that
``not`` selects exactly the others and that ``explain_conditions`` agrees with the filter.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Case, CharField, Q, Value, When
from django.utils import timezone, translation

from customers.models import (
    Customer,
    CustomerRfm,
    DoNotContact,
    ProductRefusal,
    Purchase,
)
from customers.segmentation.conditions import (
    FIELDS,
    MAX_CONDITIONS,
    MAX_DEPTH,
    ConditionError,
    FieldSpec,
    _age,
    _born_by,
    conditions_to_q,
    describe_conditions,
    explain_conditions,
    validate_conditions,
)
from tests.customers.helpers import TOKYO, at, error_of, leaf

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

REF = date(2025, 5, 10)


def days_before(days: int) -> date:
    return REF - timedelta(days=days)


def make(
    name: str,
    *,
    r: int | None = None,
    f: int | None = None,
    m: int | None = None,
    recency: int | None = None,
    frequency: int = 0,
    monetary: str = "0",
    purchase_count: int = 0,
    total: str = "0",
    first: datetime | None = None,
    last: datetime | None = None,
    birth_date: date | None = None,
    prefecture: str = "",
    gender: str = "",
    country: str = "JP",
    tags: list | None = None,
    attributes: dict | None = None,
    reference_date: date = REF,
) -> CustomerRfm:
    customer = Customer.objects.create(
        name=name,
        external_id=name,
        birth_date=birth_date,
        prefecture=prefecture,
        gender=gender,
        country=country,
        tags=tags if tags is not None else [],
        attributes=attributes if attributes is not None else {},
    )
    if last is None and recency is not None:
        last = at(days_before(recency))
    return CustomerRfm.objects.create(
        customer=customer,
        reference_date=reference_date,
        scored_at=timezone.now(),
        recency_days=recency,
        frequency=frequency,
        monetary=Decimal(monetary),
        purchase_count=purchase_count,
        total_amount=Decimal(total),
        first_purchase_at=first,
        last_purchase_at=last,
        r=r,
        f=f,
        m=m,
    )


def names(q: Q) -> set[str]:
    return set(CustomerRfm.objects.filter(q).values_list("customer__name", flat=True))


def selected(conditions: dict, reference_date: date = REF) -> set[str]:
    return names(conditions_to_q(conditions, reference_date=reference_date))


def overall(node: dict, matched: dict[str, bool], path: str = "") -> bool:
    """Combine explain entries by the rule's own structure (an independent evaluator)."""

    def child(step: str) -> str:
        return f"{path}.{step}" if path else step

    if "all" in node:
        return all(overall(c, matched, child(f"all[{i}]")) for i, c in enumerate(node["all"]))
    if "any" in node:
        return any(overall(c, matched, child(f"any[{i}]")) for i, c in enumerate(node["any"]))
    if "not" in node:
        return not overall(node["not"], matched, child("not"))
    if not node:
        return True
    return matched[path]


def assert_explain_agrees(conditions: dict, reference_date: date = REF) -> None:
    q = conditions_to_q(conditions, reference_date=reference_date)
    for rfm in CustomerRfm.objects.select_related("customer"):
        entries = explain_conditions(conditions, rfm, reference_date=reference_date)
        result = overall(conditions, {e["path"]: e["matched"] for e in entries})
        in_filter = CustomerRfm.objects.filter(pk=rfm.pk).filter(q).exists()
        assert result == in_filter, (rfm.customer.name, entries)


# --- A small population -----------------------------------------------------------------------


@pytest.fixture
def people() -> set[str]:
    """Five customers with hand-picked values; the expected sets below are written against them."""
    make(
        "a",
        r=5,
        f=5,
        m=5,
        recency=3,
        frequency=12,
        monetary="250000",
        purchase_count=20,
        total="500000",
        first=at(date(2019, 1, 5)),
        birth_date=date(1990, 5, 10),
        prefecture="東京都",
        gender="female",
        tags=["ゴルフ", "ワイン"],
        attributes={"会員ランク": "ゴールド", "points": 1200},
    )
    make(
        "b",
        r=4,
        f=2,
        m=3,
        recency=40,
        frequency=2,
        monetary="30000",
        purchase_count=3,
        total="45000.50",
        first=at(date(2024, 1, 1)),
        birth_date=date(1990, 5, 11),
        prefecture="大阪府",
        gender="male",
        tags=["釣り"],
        attributes={"会員ランク": "シルバー", "points": "1200"},
    )
    make(
        "c",
        r=1,
        f=1,
        m=1,
        recency=800,
        frequency=0,
        monetary="0",
        purchase_count=1,
        total="5000",
        first=at(days_before(800)),
        birth_date=date(1960, 12, 1),
        prefecture="北海道",
        gender="other",
        tags=["Golf"],
    )
    make("d", prefecture="東京都")  # never bought: NULL scores and recency, no birth date
    make(
        "e",
        r=3,
        f=3,
        m=2,
        recency=100,
        frequency=4,
        monetary="12000",
        purchase_count=4,
        total="12000",
        first=at(date(2023, 6, 1)),
        birth_date=date(2000, 2, 29),
        gender="female",
        country="US",
        tags=["ゴルフ", "釣り"],
        attributes={"会員ランク": "ブロンズ"},
    )
    return {"a", "b", "c", "d", "e"}


CASES = [
    # scores
    (leaf("r", "eq", 5), {"a"}),
    (leaf("r", "ne", 5), {"b", "c", "e"}),  # a missing score never matches a comparison
    (leaf("r", "in", [4, 5]), {"a", "b"}),
    (leaf("r", "not_in", [4, 5]), {"c", "e"}),
    (leaf("f", "gte", 3), {"a", "e"}),
    (leaf("f", "lte", 2), {"b", "c"}),
    (leaf("m", "between", [2, 3]), {"b", "e"}),
    (leaf("m", "between", [5, 5]), {"a"}),
    (leaf("r", "is_null", True), {"d"}),
    (leaf("r", "is_null", False), {"a", "b", "c", "e"}),
    # numbers on CustomerRfm
    (leaf("recency_days", "eq", 40), {"b"}),
    (leaf("recency_days", "ne", 40), {"a", "c", "e"}),
    (leaf("recency_days", "gt", 40), {"c", "e"}),
    (leaf("recency_days", "lt", 40), {"a"}),
    (leaf("recency_days", "gte", 40), {"b", "c", "e"}),
    (leaf("recency_days", "lte", 100), {"a", "b", "e"}),
    (leaf("recency_days", "between", [30, 100]), {"b", "e"}),
    (leaf("recency_days", "is_null", True), {"d"}),
    (leaf("frequency", "eq", 0), {"c", "d"}),
    (leaf("frequency", "gt", 2), {"a", "e"}),
    (leaf("monetary", "gte", 30000), {"a", "b"}),
    (leaf("monetary", "lt", 12000.5), {"c", "d", "e"}),
    (leaf("monetary", "between", [0, 0]), {"c", "d"}),
    (leaf("purchase_count", "eq", 0), {"d"}),
    (leaf("purchase_count", "between", [1, 4]), {"b", "c", "e"}),
    (leaf("total_amount", "gt", 45000), {"a", "b"}),  # 45000.50 > 45000
    (leaf("total_amount", "eq", 45000.5), {"b"}),
    (leaf("total_amount", "ne", 5000), {"a", "b", "d", "e"}),
    (leaf("total_amount", "is_null", True), set()),
    # days ago against the reference date
    (leaf("last_purchase_days_ago", "gte", 100), {"c", "e"}),
    (leaf("last_purchase_days_ago", "gt", 100), {"c"}),
    (leaf("last_purchase_days_ago", "lte", 40), {"a", "b"}),
    (leaf("last_purchase_days_ago", "lt", 40), {"a"}),
    (leaf("last_purchase_days_ago", "eq", 3), {"a"}),
    (leaf("last_purchase_days_ago", "ne", 3), {"b", "c", "e"}),
    (leaf("last_purchase_days_ago", "between", [3, 40]), {"a", "b"}),
    (leaf("last_purchase_days_ago", "is_null", True), {"d"}),
    (leaf("first_purchase_days_ago", "gte", 365), {"a", "b", "c", "e"}),
    (leaf("first_purchase_days_ago", "lte", 800), {"b", "c", "e"}),
    (leaf("first_purchase_days_ago", "eq", 800), {"c"}),
    (leaf("first_purchase_days_ago", "is_null", False), {"a", "b", "c", "e"}),
    # the customer's own fields
    (leaf("prefecture", "eq", "東京都"), {"a", "d"}),
    (leaf("prefecture", "ne", "東京都"), {"b", "c", "e"}),
    (leaf("prefecture", "in", ["大阪府", "北海道"]), {"b", "c"}),
    (leaf("prefecture", "not_in", ["東京都", "大阪府"]), {"c", "e"}),
    (leaf("prefecture", "eq", ""), {"e"}),
    (leaf("gender", "eq", "female"), {"a", "e"}),
    (leaf("gender", "in", ["male", "other"]), {"b", "c"}),
    (leaf("gender", "eq", ""), {"d"}),
    (leaf("gender", "not_in", ["female"]), {"b", "c", "d"}),
    (leaf("country", "eq", "US"), {"e"}),
    (leaf("country", "ne", "US"), {"a", "b", "c", "d"}),
    (leaf("age", "gte", 35), {"a", "c"}),  # a turns 35 on REF (born 1990-05-10)
    (leaf("age", "lte", 34), {"b", "e"}),  # b is 34 until tomorrow; d has no birth date
    (leaf("age", "between", [25, 35]), {"a", "b", "e"}),
    (leaf("age", "between", [64, 64]), {"c"}),
    (leaf("birth_month", "eq", 5), {"a", "b"}),
    (leaf("birth_month", "in", [2, 12]), {"c", "e"}),
    # JSON: tags and attributes (exact, case-sensitive)
    (leaf("tags", "contains_any", ["ゴルフ"]), {"a", "e"}),
    (leaf("tags", "contains_any", ["golf"]), set()),
    (leaf("tags", "contains_any", ["Golf", "釣り"]), {"b", "c", "e"}),
    (leaf("tags", "contains_all", ["ゴルフ", "釣り"]), {"e"}),
    (leaf("tags", "contains_all", ["ゴルフ"]), {"a", "e"}),
    (leaf("tags", "contains_all", ["ゴルフ", "ゴルフ"]), {"a", "e"}),
    (leaf("tags", "contains_any", ["ゴル"]), set()),
    (leaf("attribute", "eq", "ゴールド", key="会員ランク"), {"a"}),
    (leaf("attribute", "in", ["シルバー", "ブロンズ"], key="会員ランク"), {"b", "e"}),
    (leaf("attribute", "eq", 1200, key="points"), {"a"}),  # the number, not the text "1200"
    (leaf("attribute", "eq", "1200", key="points"), {"b"}),
    (leaf("attribute", "eq", 1200.0, key="points"), {"a"}),
    (leaf("attribute", "eq", "x", key="missing"), set()),
    # groups
    ({}, {"a", "b", "c", "d", "e"}),
    ({"all": []}, {"a", "b", "c", "d", "e"}),
    ({"not": {}}, set()),
    ({"any": [{}, leaf("r", "eq", 5)]}, {"a", "b", "c", "d", "e"}),
    ({"all": [{}, leaf("r", "eq", 5)]}, {"a"}),
    ({"not": {"all": []}}, set()),
    (
        {
            "all": [
                leaf("r", "in", [3, 4, 5]),
                {"any": [leaf("f", "gte", 4), leaf("prefecture", "in", ["大阪府"])]},
            ]
        },
        {"a", "b"},
    ),
    ({"any": [leaf("r", "eq", 1), leaf("r", "is_null", True)]}, {"c", "d"}),
    ({"not": leaf("r", "eq", 5)}, {"b", "c", "d", "e"}),  # not is the exact complement
    ({"not": leaf("age", "gte", 35)}, {"b", "d", "e"}),
    ({"not": leaf("attribute", "eq", "ゴールド", key="会員ランク")}, {"b", "c", "d", "e"}),
    ({"not": {"not": leaf("tags", "contains_any", ["ゴルフ"])}}, {"a", "e"}),
    (
        {
            "all": [
                {"not": {"any": [leaf("gender", "eq", "male"), leaf("r", "is_null", True)]}},
                {"any": [leaf("tags", "contains_any", ["ゴルフ"]), leaf("age", "gte", 60)]},
            ]
        },
        {"a", "c", "e"},
    ),
    (
        {"all": [{"any": [{"not": {"any": [leaf("r", "eq", 1)]}}]}]},
        {"a", "b", "d", "e"},
    ),
]


@pytest.mark.parametrize(
    ("conditions", "expected"),
    CASES,
    ids=[json.dumps(c, ensure_ascii=False)[:70] for c, _ in CASES],
)
def test_rule_selects_exactly(people, conditions, expected):
    assert selected(conditions) == expected
    # The complement: ``not`` and ``~Q`` select exactly the others (conditions are never NULL).
    assert selected({"not": conditions}) == people - expected
    assert names(~conditions_to_q(conditions, reference_date=REF)) == people - expected
    assert_explain_agrees(conditions)


def test_rule_for_everyone_works_in_when_and_negates_to_nobody(people):
    """A catch-all segment ({}) is usable in Case/When (first match wins), unlike Q()."""
    catch_all = conditions_to_q({}, reference_date=REF)
    assert catch_all != Q()
    assert conditions_to_q({"all": []}, reference_date=REF) == catch_all
    rows = CustomerRfm.objects.annotate(
        pick=Case(
            When(conditions_to_q(leaf("r", "eq", 5), reference_date=REF), then=Value("top")),
            When(catch_all, then=Value("other")),
            default=Value(None),
            output_field=CharField(),
        )
    )
    assert dict(rows.values_list("customer__name", "pick")) == {
        "a": "top",
        "b": "other",
        "c": "other",
        "d": "other",
        "e": "other",
    }
    assert names(~catch_all) == set()


# --- Days ago and age at their boundaries ---------------------------------------------------------


def test_days_ago_boundaries_follow_tokyo_calendar_days():
    # 180 days ago is 2024-11-11 (Tokyo). Last moments of day 180 and first of day 179:
    make("180_last_moment", last=at(days_before(180), 23, 59, 59, 999999))
    make("179_first_moment", last=at(days_before(179), 0, 0))
    # 2024-11-11 15:30 UTC is 2024-11-12 00:30 in Tokyo: 179 days ago, not 180.
    make("179_by_utc_evening", last=datetime(2024, 11, 11, 15, 30, tzinfo=ZoneInfo("UTC")))
    make("180_by_utc_morning", last=datetime(2024, 11, 10, 15, 0, tzinfo=ZoneInfo("UTC")))
    make("today", last=at(REF, 23, 59))
    make("tomorrow", last=at(REF + timedelta(days=1), 0, 0))  # after the reference date
    assert days_before(180) == date(2024, 11, 11)

    def rule(op, value):
        return selected(leaf("last_purchase_days_ago", op, value))

    assert rule("gte", 180) == {"180_last_moment", "180_by_utc_morning"}
    assert rule("gt", 179) == {"180_last_moment", "180_by_utc_morning"}
    assert rule("lte", 179) == {"179_first_moment", "179_by_utc_evening", "today", "tomorrow"}
    assert rule("lt", 180) == rule("lte", 179)
    assert rule("eq", 179) == {"179_first_moment", "179_by_utc_evening"}
    assert rule("eq", 0) == {"today"}
    assert rule("lt", 0) == {"tomorrow"}
    assert rule("between", [0, 179]) == {"179_first_moment", "179_by_utc_evening", "today"}
    assert rule("ne", 179) == {"180_last_moment", "180_by_utc_morning", "today", "tomorrow"}
    # explain reports the same whole days: (reference date - Tokyo date of the purchase)
    for rfm in CustomerRfm.objects.select_related("customer"):
        entry = explain_conditions(
            leaf("last_purchase_days_ago", "gte", 180), rfm, reference_date=REF
        )[0]
        local_day = timezone.localtime(rfm.last_purchase_at, TOKYO).date()
        assert entry["actual"] == (REF - local_day).days
        assert entry["matched"] == (entry["actual"] >= 180)


def test_days_ago_moves_with_the_reference_date():
    make("x", last=at(date(2025, 1, 1), 9))
    rule = leaf("last_purchase_days_ago", "gte", 30)
    assert selected(rule, reference_date=date(2025, 1, 30)) == set()
    assert selected(rule, reference_date=date(2025, 1, 31)) == {"x"}


def test_age_birthday_boundary():
    make("born_1990_05_10", birth_date=date(1990, 5, 10))
    on_birthday, day_before = date(2025, 5, 10), date(2025, 5, 9)
    assert selected(leaf("age", "gte", 35), on_birthday) == {"born_1990_05_10"}
    assert selected(leaf("age", "gte", 35), day_before) == set()
    assert selected(leaf("age", "lte", 34), day_before) == {"born_1990_05_10"}
    assert selected(leaf("age", "lte", 34), on_birthday) == set()
    assert selected(leaf("age", "between", [35, 35]), on_birthday) == {"born_1990_05_10"}
    rfm = CustomerRfm.objects.get()
    assert (
        explain_conditions(leaf("age", "gte", 35), rfm, reference_date=on_birthday)[0]["actual"]
        == 35
    )
    assert (
        explain_conditions(leaf("age", "gte", 35), rfm, reference_date=day_before)[0]["actual"]
        == 34
    )


def test_age_of_leap_day_births():
    make("leap", birth_date=date(2000, 2, 29))
    assert selected(leaf("age", "gte", 25), date(2025, 2, 28)) == set()
    assert selected(leaf("age", "gte", 25), date(2025, 3, 1)) == {"leap"}
    assert selected(leaf("age", "gte", 24), date(2024, 2, 29)) == {"leap"}
    assert selected(leaf("age", "lte", 23), date(2024, 2, 28)) == {"leap"}


def test_age_translation_matches_whole_years_for_every_day():
    """``birth_date <= _born_by(ref, n)`` is exactly ``age >= n``, leap days included."""
    refs = [
        date(2024, 2, 28),
        date(2024, 2, 29),
        date(2024, 3, 1),
        date(2025, 2, 28),
        date(2025, 3, 1),
        date(2025, 12, 31),
    ]
    births = [date(1996, 1, 1) + timedelta(days=d) for d in range(0, 365 * 9, 3)]
    births += [
        date(1996, 2, 29),
        date(2000, 2, 29),
        date(2004, 2, 29),
        date(2001, 2, 28),
        date(2001, 3, 1),
    ]
    for ref in refs:
        for years in (20, 21, 24, 25, 28):
            bound = _born_by(ref, years)
            for birth in births:
                assert (birth <= bound) == (_age(birth, ref) >= years), (ref, years, birth)


# --- Tags and attributes on both databases, however the JSON was written ----------------------


def _store_raw(rfm: CustomerRfm, column: str, value) -> None:
    """Write JSON text without escaping (as the bulk import does), bypassing the ORM."""
    text = json.dumps(value, ensure_ascii=False)
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE customers_customer SET {column} = %s{cast} WHERE id = %s",
            [text, rfm.customer_id],
        )


def test_tags_exact_on_this_backend_whatever_the_json_text():
    make("orm", tags=["ゴルフ", "ワイン"])
    _store_raw(make("raw"), "tags", ["ゴルフ"])
    make("upper", tags=["GOLF"])
    make("lower", tags=["golf"])
    make("quoted", tags=['x", "ゴルフ', 'say "hi"'])  # the text holds “"ゴルフ"” inside another tag
    make("nested", tags=[["ゴルフ"]])
    make("scalar", tags="ゴルフ")  # not a list: no tags
    make("empty", tags=[])
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("SELECT tags FROM customers_customer WHERE external_id = 'orm'")
            assert "\\u30b4" in cursor.fetchone()[0]  # the ORM escapes, the import does not
    assert selected(leaf("tags", "contains_any", ["ゴルフ"])) == {"orm", "raw"}
    assert selected(leaf("tags", "contains_any", ["golf"])) == {"lower"}
    assert selected(leaf("tags", "contains_any", ["GOLF", "ワイン"])) == {"upper", "orm"}
    assert selected(leaf("tags", "contains_all", ["ゴルフ", "ワイン"])) == {"orm"}
    assert selected(leaf("tags", "contains_any", ['say "hi"'])) == {"quoted"}
    assert selected(leaf("tags", "contains_any", ["%"])) == set()
    assert selected({"not": leaf("tags", "contains_any", ["ゴルフ"])}) == {
        "upper",
        "lower",
        "quoted",
        "nested",
        "scalar",
        "empty",
    }


def test_attributes_exact_on_this_backend_whatever_the_json_text():
    make("orm", attributes={"会員ランク": "ゴールド", "2024": "yes", "a__b": 1})
    _store_raw(make("raw"), "attributes", {"会員ランク": "ゴールド", "it's": "ok"})
    make("null", attributes={"会員ランク": None})
    make("list", attributes={"会員ランク": ["ゴールド"]})
    make("case", attributes={"会員ランク": "ｺﾞｰﾙﾄﾞ"})
    make("none", attributes={})
    gold = leaf("attribute", "eq", "ゴールド", key="会員ランク")
    assert selected(gold) == {"orm", "raw"}
    assert selected({"not": gold}) == {"null", "list", "case", "none"}
    assert selected(leaf("attribute", "eq", "yes", key="2024")) == {"orm"}  # not an array index
    assert selected(leaf("attribute", "eq", 1, key="a__b")) == {"orm"}
    assert selected(leaf("attribute", "eq", "ok", key="it's")) == {"raw"}
    assert_explain_agrees({"any": [gold, leaf("attribute", "eq", "ok", key="it's")]})


@pytest.mark.postgres_only
def test_tags_use_jsonb_containment_on_postgresql(postgres):
    make("a", tags=["ゴルフ"])
    sql = str(
        CustomerRfm.objects.filter(
            conditions_to_q(leaf("tags", "contains_any", ["ゴルフ"]), reference_date=REF)
        ).query
    )
    assert '"customers_customer"."tags" @>' in sql
    assert selected(leaf("tags", "contains_any", ["ゴルフ"])) == {"a"}


# --- Relations: purchases, refusals, do-not-contact -------------------------------------------


def _purchase(rfm: CustomerRfm, category: str, moment: datetime) -> None:
    Purchase.objects.create(
        customer_id=rfm.customer_id,
        line_key=f"{rfm.customer_id}-{category}-{moment.isoformat()}",
        purchased_at=moment,
        amount=Decimal("1000"),
        category=category,
    )


def test_category_bought_with_and_without_window():
    a = make("a")
    b = make("b")
    c = make("c")
    make("none")
    _purchase(a, "健康食品", at(days_before(30), 0, 0))  # 30 days ago, first moment
    _purchase(b, "健康食品", at(days_before(31), 23, 59))  # 31 days ago
    _purchase(b, "化粧品", at(days_before(1)))
    _purchase(c, "健康食品", at(REF + timedelta(days=1), 0, 0))  # after the reference date
    assert selected(leaf("category_bought", "any_of", ["健康食品"])) == {"a", "b"}
    assert selected(leaf("category_bought", "any_of", ["健康食品"], within_days=30)) == {"a"}
    assert selected(leaf("category_bought", "any_of", ["健康食品"], within_days=31)) == {"a", "b"}
    assert selected(leaf("category_bought", "any_of", ["化粧品", "雑貨"], within_days=0)) == set()
    assert selected(leaf("category_bought", "any_of", ["化粧品"], within_days=1)) == {"b"}
    assert selected(leaf("category_bought", "any_of", ["健康"])) == set()
    assert selected(leaf("category_bought", "any_of", ["健康食品"]), REF + timedelta(days=1)) == {
        "a",
        "b",
        "c",
    }
    rule = {"not": leaf("category_bought", "any_of", ["健康食品"], within_days=30)}
    assert selected(rule) == {"b", "c", "none"}
    assert_explain_agrees(rule)
    entry = explain_conditions(
        leaf("category_bought", "any_of", ["健康食品", "化粧品"]), b, reference_date=REF
    )[0]
    assert entry["actual"] == ["健康食品", "化粧品"]  # sorted by code point
    assert entry["matched"] is True


def test_product_refused_and_do_not_contact():
    a = make("a")
    b = make("b")
    c = make("c")
    make("none")
    ProductRefusal.objects.create(
        customer_id=a.customer_id, product="SKU-1", refused_at=timezone.now()
    )
    ProductRefusal.objects.create(
        customer_id=b.customer_id, product="健康食品", refused_at=timezone.now()
    )
    DoNotContact.objects.create(scope="customer", customer_id=a.customer_id, reason="request")
    DoNotContact.objects.create(
        scope="phone", phone="+81312345678", customer_id=c.customer_id, reason="wrong_number"
    )
    assert selected(leaf("product_refused", "any_of", ["SKU-1"])) == {"a"}
    assert selected(leaf("product_refused", "any_of", ["SKU-1", "健康食品"])) == {"a", "b"}
    assert selected(leaf("product_refused", "is_true")) == {"a", "b"}
    assert selected(leaf("product_refused", "is_true", True)) == {"a", "b"}
    # only a customer-scope entry counts; a wrong phone number does not stop the customer
    assert selected(leaf("do_not_contact", "is_true")) == {"a"}
    assert selected(leaf("do_not_contact", "is_false")) == {"b", "c", "none"}
    rule = {
        "all": [leaf("do_not_contact", "is_false"), {"not": leaf("product_refused", "is_true")}]
    }
    assert selected(rule) == {"c", "none"}
    assert_explain_agrees(rule)
    entries = explain_conditions(rule, a, reference_date=REF)
    assert [e["actual"] for e in entries] == [True, ["SKU-1"]]
    assert [e["matched"] for e in entries] == [False, True]


# --- Explain and describe ---------------------------------------------------------------------


def test_explain_entries_for_one_customer(people):
    rule = {
        "all": [
            leaf("r", "in", [4, 5]),
            {
                "any": [
                    leaf("f", "gte", 4),
                    leaf("prefecture", "in", ["東京都"]),
                    {"not": leaf("age", "lte", 30)},
                ]
            },
            leaf("monetary", "gte", 10000),
            leaf("last_purchase_days_ago", "lte", 30),
            leaf("attribute", "eq", "シルバー", key="会員ランク"),
        ]
    }
    b = CustomerRfm.objects.get(customer__name="b")
    with translation.override("en"):
        entries = explain_conditions(rule, b, reference_date=REF)
    assert [(e["path"], e["field"], e["op"], e["actual"], e["matched"]) for e in entries] == [
        ("all[0]", "r", "in", 4, True),
        ("all[1].any[0]", "f", "gte", 2, False),
        ("all[1].any[1]", "prefecture", "in", "大阪府", False),
        ("all[1].any[2].not", "age", "lte", 34, False),  # the leaf itself; ``not`` flips it
        ("all[2]", "monetary", "gte", Decimal("30000"), True),
        ("all[3]", "last_purchase_days_ago", "lte", 40, False),
        ("all[4]", "attribute", "eq", "シルバー", True),
    ]
    assert [e["label"] for e in entries] == [
        "R in 4–5",
        "F ≥ 4",
        "Prefecture in 東京都",
        "Age ≤ 30",
        "Amount in window ≥ 10,000",
        "Days since last purchase ≤ 30",
        "Attribute “会員ランク” = シルバー",
    ]
    assert entries[0]["value"] == [4, 5]
    assert overall(rule, {e["path"]: e["matched"] for e in entries}) is False
    assert_explain_agrees(rule)
    d = CustomerRfm.objects.get(customer__name="d")
    assert [e["actual"] for e in explain_conditions(rule, d, reference_date=REF)] == [
        None,
        None,
        "東京都",
        None,
        Decimal("0"),
        None,
        None,
    ]
    assert explain_conditions({}, d, reference_date=REF) == []


@pytest.mark.parametrize(
    ("conditions", "text"),
    [
        ({}, "All customers"),
        ({"all": []}, "All customers"),
        ({"not": {}}, "nobody"),
        ({"all": [leaf("r", "in", [4, 5]), leaf("f", "gte", 4)]}, "R in 4–5 and F ≥ 4"),
        (leaf("r", "in", [1, 2, 3, 5]), "R in 1–3, 5"),
        (leaf("m", "not_in", [2]), "M not in 2"),
        (
            {
                "all": [
                    leaf("r", "eq", 5),
                    {"any": [leaf("f", "gte", 4), leaf("prefecture", "in", ["東京都", "大阪府"])]},
                ]
            },
            "R = 5 and (F ≥ 4 or Prefecture in 東京都, 大阪府)",
        ),
        ({"not": {"all": [leaf("r", "eq", 1), leaf("f", "eq", 1)]}}, "not (R = 1 and F = 1)"),
        ({"not": leaf("r", "is_null", True)}, "not R is empty"),
        (leaf("recency_days", "between", [30, 90]), "Recency (days) between 30 and 90"),
        (leaf("total_amount", "gte", 1000000), "Amount ever ≥ 1,000,000"),
        (leaf("last_purchase_days_ago", "gt", 180), "Days since last purchase > 180"),
        (leaf("first_purchase_days_ago", "is_null", False), "Days since first purchase is set"),
        (leaf("gender", "in", ["female", ""]), "Gender in Female, Unknown"),
        (leaf("prefecture", "eq", ""), "Prefecture = (empty)"),
        (leaf("age", "between", [20, 39]), "Age between 20 and 39"),
        (leaf("birth_month", "in", [12, 1, 2]), "Birth month in 1–2, 12"),
        (leaf("tags", "contains_all", ["ゴルフ", "ワイン"]), "Tags include all of ゴルフ, ワイン"),
        (leaf("category_bought", "any_of", ["健康食品"]), "Bought category any of 健康食品"),
        (
            leaf("category_bought", "any_of", ["健康食品"], within_days=90),
            "Bought category any of 健康食品 within 90 days",
        ),
        (leaf("product_refused", "is_true"), "Refused any product"),
        (leaf("product_refused", "any_of", ["SKU-1"]), "Refused product any of SKU-1"),
        (leaf("do_not_contact", "is_false"), "Do not contact: no"),
        (leaf("attribute", "in", ["A", 3], key="会員ランク"), "Attribute “会員ランク” in A, 3"),
        ({"any": [{}, leaf("r", "eq", 5)]}, "All customers"),
        ({"all": [{}, leaf("r", "eq", 5)]}, "R = 5"),
    ],
)
def test_describe(conditions, text):
    with translation.override("en"):
        assert describe_conditions(conditions) == text


def test_describe_in_japanese_is_one_line():
    with translation.override("ja"):
        text = describe_conditions(
            {"all": [leaf("r", "in", [4, 5]), leaf("prefecture", "eq", "東京都")]}
        )
    assert "\n" not in text
    assert "4–5" in text
    assert "東京都" in text


# --- Refusals with specific messages ------------------------------------------------------------

# Five levels of groups: all > any > not > all > any.
DEEP = {"all": [{"any": [{"not": {"all": [{"any": [leaf("r", "eq", 1)]}]}}]}]}


@pytest.mark.parametrize(
    ("conditions", "path", "fragments"),
    [
        ([], "(top level)", ["expected an object"]),
        (
            {"all": [leaf("x", "eq", 1)]},
            "all[0]",
            ["unknown field “x”", "Known fields: r, f, m,", "attribute"],
        ),
        ({"all": [{"field": 3, "op": "eq", "value": 1}]}, "all[0]", ["unknown field “3”"]),
        (
            leaf("r", "contains_any", [1]),
            "(top level)",
            ["“contains_any”", "not allowed for “r”", "eq, ne, in"],
        ),
        (leaf("age", "eq", 30), "(top level)", ["“eq”", "“age”", "gte, lte, between"]),
        ({"field": "r", "value": 1}, "(top level)", ["operator null", "“r”"]),
        (
            {"all": [leaf("r", "eq", 1)], "any": [leaf("r", "eq", 2)]},
            "(top level)",
            ["“any”", "next to “all”"],
        ),
        ({"all": [{"foo": 1}]}, "all[0]", ["unknown key(s) “foo”", "“field”"]),
        (
            {"all": [{**leaf("r", "eq", 1), "colour": "red"}]},
            "all[0]",
            ["“colour”", "“r”", "field, op, value"],
        ),
        ({"all": [leaf("r", "eq", 1, within_days=3)]}, "all[0]", ["“within_days”"]),
        (
            {"any": [leaf("r", "eq", 1), {"any": [leaf("r", "eq", 6)]}]},
            "any[1].any[0]",
            ["6", "“r”", "out of range", "1 to 5"],
        ),
        (
            {"all": [{}, {"any": [leaf("f", "eq", True)]}]},
            "all[1].any[0]",
            ["true", "“f”", "not a whole number"],
        ),
        (leaf("r", "eq", 4.0), "(top level)", ["4.0", "not a whole number"]),
        (leaf("r", "eq", "5"), "(top level)", ['"5"', "not a whole number"]),
        (leaf("r", "in", [4, True]), "(top level)", ["true", "“r”"]),
        (leaf("r", "in", []), "(top level)", ["list", "“r” in", "got 0"]),
        (leaf("r", "in", 4), "(top level)", ["needs a list", "4"]),
        (leaf("r", "in", list(range(1, 6)) * 21), "(top level)", ["1 to 100", "got 105"]),
        (leaf("r", "between", [4, 2]), "(top level)", ["[4, 2]", "low end is above the high end"]),
        (leaf("r", "between", [1]), "(top level)", ["[low, high]", "[1]"]),
        (leaf("r", "between", [0, 3]), "(top level)", ["0", "out of range"]),
        (leaf("r", "is_null", 1), "(top level)", ["true or false", "1"]),
        (leaf("r", "eq"), "(top level)", ["needs a “value”"]),
        (leaf("birth_month", "eq", 13), "(top level)", ["13", "“birth_month”", "months 1 to 12"]),
        (leaf("birth_month", "in", [0]), "(top level)", ["0", "out of range"]),
        (leaf("recency_days", "gte", -1), "(top level)", ["-1", "out of range", "from 0"]),
        (
            leaf("last_purchase_days_ago", "lte", -5),
            "(top level)",
            ["-5", "“last_purchase_days_ago”"],
        ),
        (leaf("last_purchase_days_ago", "lte", 10**9), "(top level)", ["out of range", "36500"]),
        (leaf("monetary", "gte", -100), "(top level)", ["-100", "out of range"]),
        (leaf("monetary", "gte", float("inf")), "(top level)", ["not a number"]),
        (leaf("monetary", "gte", "1000"), "(top level)", ['"1000"', "not a number"]),
        (leaf("age", "gte", 151), "(top level)", ["151", "0 to 150"]),
        (leaf("gender", "eq", "f"), "(top level)", ['"f"', "not one of the choices", "“female”"]),
        (leaf("country", "eq", "jp"), "(top level)", ['"jp"', "“JP”"]),
        (leaf("prefecture", "in", ["東京都", 13]), "(top level)", ["13", "not text"]),
        (leaf("prefecture", "eq", "x" * 65), "(top level)", ["longer than 64 characters"]),
        (leaf("tags", "contains_any", [""]), "(top level)", ['""', "empty text"]),
        (leaf("tags", "contains_any", "ゴルフ"), "(top level)", ["needs a list", '"ゴルフ"']),
        (
            leaf("category_bought", "any_of", ["x"], within_days=-1),
            "(top level)",
            ["category_bought.within_days", "-1"],
        ),
        (
            leaf("category_bought", "any_of", ["x"], within_days=True),
            "(top level)",
            ["within_days", "true"],
        ),
        (leaf("do_not_contact", "is_true", False), "(top level)", ["takes no value", "false"]),
        (leaf("do_not_contact", "eq", True), "(top level)", ["“eq”", "is_true, is_false"]),
        (leaf("attribute", "eq", "x"), "(top level)", ["needs “key”"]),
        (leaf("attribute", "eq", "x", key=""), "(top level)", ["attribute.key", "empty text"]),
        (
            leaf("attribute", "eq", True, key="k"),
            "(top level)",
            ["true", "neither text nor a number"],
        ),
        (leaf("attribute", "in", [None], key="k"), "(top level)", ["null"]),
        ({"all": leaf("r", "eq", 1)}, "(top level)", ["“all” needs a list"]),
        ({"any": []}, "(top level)", ["“any” needs at least one condition"]),
        ({"not": [leaf("r", "eq", 1)]}, "not", ["expected an object"]),
        ({"all": ["r = 5"]}, "all[0]", ["expected an object", '"r = 5"']),
        ({"all": [DEEP]}, "all[0].all[0].any[0].not.all[0]", ["nested too deeply", "5 levels"]),
        (
            {"all": [leaf("r", "eq", 1)] * (MAX_CONDITIONS + 1)},
            f"all[{MAX_CONDITIONS}]",
            ["too many conditions", "50"],
        ),
    ],
)
def test_refusals_name_the_path_and_the_offending_thing(conditions, path, fragments):
    error = error_of(conditions)
    assert isinstance(error, ValidationError)
    with translation.override("en"):
        message = error.messages[0]
    assert message.startswith(f"{path}: "), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert error.path == ("" if path == "(top level)" else path)
    with pytest.raises(ConditionError):
        conditions_to_q(conditions, reference_date=REF)
    with pytest.raises(ConditionError):
        describe_conditions(conditions)


def test_limits_are_inclusive():
    validate_conditions(DEEP)  # exactly five levels of groups
    assert MAX_DEPTH == 5
    validate_conditions({"all": [leaf("r", "eq", 1)] * MAX_CONDITIONS})
    validate_conditions(leaf("r", "in", [1, 2, 3, 4, 5] * 20))


def test_condition_error_is_translatable_and_serialisable():
    error = error_of({"all": [leaf("nope", "eq", 1)]})
    assert error.code == "unknown_field"
    assert error.params["field"] == "nope"
    with translation.override("ja"):
        assert "all[0]" in error.messages[0]
        assert "nope" in error.messages[0]
    copied = ValidationError([error])
    assert "all[0]" in copied.messages[0]


def test_reference_date_must_be_a_date():
    with pytest.raises(TypeError):
        conditions_to_q({}, reference_date=datetime(2025, 5, 10, tzinfo=TOKYO))


def test_malicious_looking_values_are_just_values(people):
    evil = "東京都'; DROP TABLE customers_customer; --"
    assert selected(leaf("prefecture", "eq", evil)) == set()
    assert selected(leaf("prefecture", "in", [evil, "大阪府"])) == {"b"}
    assert selected(leaf("tags", "contains_any", [evil, "') OR 1=1 --"])) == set()
    assert selected(leaf("attribute", "eq", evil, key="会員ランク') OR 1=1 --")) == set()
    assert selected(leaf("category_bought", "any_of", [evil])) == set()
    assert Customer.objects.count() == 5
    assert selected({}) == people


# --- The catalogue ------------------------------------------------------------------------------


def test_catalogue_entries():
    expected = {
        "r", "f", "m", "recency_days", "frequency", "monetary", "purchase_count", "total_amount",
        "first_purchase_days_ago", "last_purchase_days_ago", "prefecture", "gender", "country",
        "age", "birth_month", "tags", "category_bought", "product_refused", "contacted", "reached",
        "converted_by_campaign", "do_not_contact", "attribute",
    }  # fmt: skip
    assert set(FIELDS) == expected
    for name, spec in FIELDS.items():
        assert isinstance(spec, FieldSpec)
        assert spec.name == name
        assert str(spec.label)
        assert spec.ops
    assert FIELDS["r"].ops == ("eq", "ne", "in", "not_in", "gte", "lte", "between", "is_null")
    assert FIELDS["age"].ops == ("gte", "lte", "between")
    assert FIELDS["birth_month"].ops == ("eq", "in")
    with translation.override("ja"):
        assert str(FIELDS["prefecture"].label)


def test_default_segment_rules_are_valid():
    from customers.segmentation.defaults import DEFAULT_SEGMENTS

    for segment in DEFAULT_SEGMENTS:
        validate_conditions(segment["conditions"])
        assert describe_conditions(segment["conditions"])
