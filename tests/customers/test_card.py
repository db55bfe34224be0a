"""The customer card's read side: purchases, LTV, cross-sell, contact timeline, callbacks, segment.

Expected values are computed by hand (LTV: the DOMAIN.md examples) or independently in Python
from the same hand-built data (category affinity); query counts must not grow with the number of
purchases or contacts.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import count, permutations
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.card import (
    contact_timeline,
    cross_sell_suggestions,
    customer_card,
    customer_ltv,
    open_callbacks,
    purchase_summary,
)
from customers.ltv import history_years, ltv_compute
from customers.models import CategoryAffinity, LtvFormula, LtvSettings, Purchase
from customers.segmentation.selectors import customer_explain
from customers.services.affinity import category_affinity_rebuild
from customers.services.segments import segmentation_run
from outreach.models import CampaignMember, ContactAttempt, Disposition, Lane, MemberStatus
from tests.factories import CampaignFactory, CustomerFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 6, 10, 15, 0, tzinfo=TOKYO)
TODAY = NOW.date()
_lines = count()
_keys = count()


def buy(
    customer,
    when: datetime,
    amount: int | str,
    *,
    category: str = "",
    order_id: str = "",
    product: str = "item",
) -> Purchase:
    n = next(_lines)
    return Purchase.objects.create(
        customer=customer,
        line_key=f"line-{n}",
        order_id=order_id,
        purchased_at=when,
        amount=Decimal(str(amount)),
        product_code=f"P{n}",
        product_name=product,
        category=category,
    )


def contact(customer, campaign, *, when: datetime, agent=None, disposition=None, **fields):
    disposition = disposition or Disposition.objects.filter(callback=False).first()
    return ContactAttempt.objects.create(
        idempotency_key=f"test-{next(_keys)}",
        campaign=campaign,
        customer=customer,
        agent=agent,
        channel=campaign.channel,
        disposition=disposition,
        attempted_at=when,
        reached=disposition.reached,
        success=disposition.success,
        **fields,
    )


# --- LTV: the DOMAIN.md examples -----------------------------------------------------------


def ltv_inputs(*, orders: int, revenue: str, days_of_history: int | None) -> dict:
    """``ltv_compute``'s inputs as of TODAY with the default settings, the first purchase
    ``days_of_history`` days back (None: no purchase)."""
    return {
        "orders": orders,
        "revenue": Decimal(revenue),
        "first_purchase_on": (
            None if days_of_history is None else TODAY - timedelta(days=days_of_history)
        ),
        "reference_date": TODAY,
        "settings": LtvSettings(),
    }


def test_ltv_formulas_give_the_domain_examples():
    # Given 12 orders worth 60,000 over exactly one year and the default parameters
    # (gross margin 60%, 3 years retained, acquisition 3,000, retention 1,000)
    given = ltv_inputs(orders=12, revenue="60000", days_of_history=365)
    # When each formula is computed, then they give the DOMAIN.md numbers
    by_order_value = ltv_compute(LtvFormula.ORDER_VALUE, **given)
    assert by_order_value.value == Decimal("180000")  # 5,000 × 12 × 3
    assert by_order_value.input("average_order_value") == Decimal("5000")
    assert by_order_value.input("purchases_per_year") == Decimal("12")
    assert by_order_value.expression == "5,000.00 × 12.00 × 3.00 = 180,000.00"
    by_margin = ltv_compute(LtvFormula.MARGIN, **given)
    assert by_margin.value == Decimal("108000")  # 60,000 × 60% × 3
    assert by_margin.input("annual_revenue") == Decimal("60000")
    by_net = ltv_compute(LtvFormula.NET, **given)
    assert by_net.value == Decimal("56000")  # 60,000 − (3,000 + 1,000)
    assert by_net.expression == "60,000.00 − (3,000.00 + 1,000.00) = 56,000.00"
    assert by_order_value.chosen and not by_margin.chosen and not by_net.chosen


def test_ltv_per_year_divides_by_the_years_of_history_but_at_least_one():
    # Two years of history: 24 orders, 120,000 → 12 a year, 60,000 a year
    two_years = ltv_inputs(orders=24, revenue="120000", days_of_history=730)
    assert ltv_compute(LtvFormula.ORDER_VALUE, **two_years).value == Decimal("180000")
    assert ltv_compute(LtvFormula.MARGIN, **two_years).value == Decimal("108000")
    assert ltv_compute(LtvFormula.NET, **two_years).value == Decimal("116000")
    # A month of history counts as a year: 2 orders of 5,000 are 2 a year, not 24
    recent = ltv_compute(
        LtvFormula.ORDER_VALUE, **ltv_inputs(orders=2, revenue="10000", days_of_history=30)
    )
    assert recent.input("purchases_per_year") == 2
    assert recent.value == Decimal("30000")  # 5,000 × 2 × 3
    assert history_years(None, TODAY) == 1
    assert history_years(TODAY - timedelta(days=548), TODAY) == Decimal(548) / 365


def test_ltv_without_purchases_is_zero_or_minus_the_costs():
    none = ltv_inputs(orders=0, revenue="0", days_of_history=None)
    assert ltv_compute(LtvFormula.ORDER_VALUE, **none).value == 0
    assert ltv_compute(LtvFormula.MARGIN, **none).value == 0
    assert ltv_compute(LtvFormula.NET, **none).value == Decimal("-4000")


def test_customer_ltv_reads_the_customers_orders_and_the_chosen_formula():
    # Given 12 orders of 5,000 in the past year, one of them in two lines of the same order
    customer = CustomerFactory()
    for month in range(11):
        buy(customer, NOW - timedelta(days=365 - 30 * month), 5000, order_id=f"O{month}")
    buy(customer, NOW - timedelta(days=2), 3000, order_id="O-last")
    buy(customer, NOW - timedelta(days=2), 2000, order_id="O-last")
    # When the LTV is read with the default settings, then formula 1 is used
    result = customer_ltv(customer, reference_date=TODAY)
    assert (result.formula, result.value) == (LtvFormula.ORDER_VALUE, Decimal("180000"))
    assert result.input("orders") == 12
    # And a supervisor choosing another formula or parameters changes the card's LTV
    LtvSettings.objects.update(chosen_formula=LtvFormula.MARGIN, gross_margin_percent=50)
    result = customer_ltv(customer, reference_date=TODAY)
    assert (result.formula, result.value) == (LtvFormula.MARGIN, Decimal("90000"))
    assert customer_ltv(customer, LtvFormula.NET, reference_date=TODAY).value == Decimal("56000")


def test_migration_creates_the_one_ltv_settings_row():
    assert LtvSettings.objects.count() == 1
    assert LtvSettings.objects.get().chosen_formula == LtvFormula.ORDER_VALUE


# --- Purchase summary ----------------------------------------------------------------------


def test_purchase_summary_totals_recent_lines_and_top_categories(django_assert_num_queries):
    # Given 14 lines in 12 orders (two orders of two lines; lines without an order id are orders)
    customer = CustomerFactory()
    other = CustomerFactory()
    buy(other, NOW, 99999, category="Noise")
    start = NOW - timedelta(days=100)
    lines = []
    for day in range(12):
        category = ["Water", "Water", "Tea", "Coffee"][day % 4]
        lines.append(buy(customer, start + timedelta(days=day), 1000 + day, category=category))
    lines.append(buy(customer, start + timedelta(days=20), 500, order_id="A", category="Tea"))
    lines.append(buy(customer, start + timedelta(days=20), 700, order_id="A", category=""))
    # When the summary is read
    with django_assert_num_queries(3):
        summary = purchase_summary(customer)
    # Then
    total = sum(line.amount for line in lines)
    assert summary.line_count == 14
    assert summary.order_count == 13  # 12 single-line orders + order A
    assert summary.total_amount == total
    assert summary.average_order_value == (total / 13).quantize(Decimal("0.01"))
    assert summary.first_purchase_at == start
    assert summary.last_purchase_at == start + timedelta(days=20)
    newest = sorted(lines, key=lambda p: (p.purchased_at, p.pk), reverse=True)[:10]
    assert [item.product_name for item in summary.recent_items] == [p.product_name for p in newest]
    assert [item.amount for item in summary.recent_items] == [p.amount for p in newest]
    by_category = Counter()
    for line in lines:
        if line.category:
            by_category[line.category] += line.amount
    assert [(c.category, c.amount) for c in summary.top_categories] == sorted(
        by_category.items(), key=lambda item: (-item[1], item[0])
    )
    assert summary.categories == {"Water", "Tea", "Coffee"}


def test_purchase_summary_of_a_customer_without_purchases():
    summary = purchase_summary(CustomerFactory())
    assert not summary.has_purchases
    assert (summary.order_count, summary.total_amount, summary.average_order_value) == (0, 0, None)
    assert summary.recent_items == () and summary.categories == frozenset()


# --- Cross-sell ----------------------------------------------------------------------------

BASKETS = [
    {"Water", "Filters", "Cups"},
    {"Water", "Filters"},
    {"Water", "Filters", "Tea"},
    {"Water", "Cups"},
    {"Water", "Tea"},
    {"Tea", "Cups"},
    {"Tea", "Coffee"},
    {"Coffee", "Cups"},
    {"Coffee"},
    {"Water"},
    {"Filters", "Coffee"},
]


def _affinity_by_hand(baskets: list[set[str]], min_customers: int) -> dict:
    """Confidence and lift per ordered pair, computed straight from the baskets."""
    per_category = Counter(category for basket in baskets for category in basket)
    together = Counter(pair for basket in baskets for pair in permutations(sorted(basket), 2))
    buyers = sum(1 for basket in baskets if basket)
    return {
        (a, b): {
            "customers_both": n,
            "customers_category": per_category[a],
            "customers_other": per_category[b],
            "confidence": n / per_category[a],
            "lift": n * buyers / (per_category[a] * per_category[b]),
        }
        for (a, b), n in together.items()
        if n >= min_customers
    }


def _customers_with(baskets: list[set[str]]):
    customers = []
    for basket in baskets:
        customer = CustomerFactory()
        for index, category in enumerate(sorted(basket)):
            # two lines in some categories: the affinity counts customers, not lines
            buy(customer, NOW - timedelta(days=index + 1), 1000, category=category)
            if index == 0:
                buy(customer, NOW - timedelta(days=40), 1000, category=category)
        customers.append(customer)
    buy(customers[-1], NOW, 500, category="")  # uncategorised lines are ignored
    return customers


@pytest.mark.parametrize("min_customers", [1, 2])
def test_category_affinity_rebuild_matches_an_independent_computation(min_customers):
    _customers_with(BASKETS)
    CategoryAffinity.objects.create(
        category="Old",
        other_category="Gone",
        customers_both=9,
        customers_category=9,
        customers_other=9,
        confidence=1,
        lift=1,
        computed_at=NOW,
    )
    stored = category_affinity_rebuild(min_customers=min_customers, computed_at=NOW)
    expected = _affinity_by_hand(BASKETS, min_customers)
    rows = {
        (row.category, row.other_category): {
            "customers_both": row.customers_both,
            "customers_category": row.customers_category,
            "customers_other": row.customers_other,
            "confidence": row.confidence,
            "lift": row.lift,
        }
        for row in CategoryAffinity.objects.all()
    }
    assert stored == len(expected) == len(rows)
    assert rows.keys() == expected.keys()
    for pair, values in expected.items():
        assert rows[pair] == pytest.approx(values), pair
    assert set(CategoryAffinity.objects.values_list("computed_at", flat=True)) == {NOW}


def test_cross_sell_ranks_unbought_categories_by_affinity_with_the_bought_ones(
    django_assert_num_queries,
):
    customers = _customers_with(BASKETS)
    category_affinity_rebuild(min_customers=1)
    expected_pairs = _affinity_by_hand(BASKETS, 1)
    for customer, basket in zip(customers, BASKETS, strict=True):
        # Independently: for each unbought category, its best confidence from a bought one
        best: dict[str, tuple] = {}
        for (a, b), values in expected_pairs.items():
            if a in basket and b not in basket:
                key = (-values["confidence"], -values["lift"], b, a)
                if b not in best or key < best[b]:
                    best[b] = key
        ranked = sorted(best.values())[:3]
        with django_assert_num_queries(2):
            suggestions = cross_sell_suggestions(customer, limit=3)
        assert [(s.category, s.because_of) for s in suggestions] == [
            (key[2], key[3]) for key in ranked
        ], basket
        for suggestion, key in zip(suggestions, ranked, strict=True):
            assert suggestion.confidence == pytest.approx(-key[0])


def test_cross_sell_explains_the_share_of_customers():
    customers = _customers_with(BASKETS)
    category_affinity_rebuild(min_customers=1)
    # Basket {"Coffee"}: of the 4 Coffee buyers, 1 bought Cups, 1 Tea, 1 Filters
    # Basket {"Water"}: of 6 Water buyers, 3 bought Filters (50%), 2 Cups, 2 Tea
    water_only = customers[BASKETS.index({"Water"})]
    first = cross_sell_suggestions(water_only, limit=1)[0]
    assert (first.category, first.because_of, first.percent) == ("Filters", "Water", 50)
    assert first.explanation == "bought by 50% of customers who bought Water"


def test_cross_sell_for_a_customer_without_purchases_or_before_any_rebuild():
    assert cross_sell_suggestions(CustomerFactory()) == []
    customer = _customers_with([{"Water"}])[0]
    assert cross_sell_suggestions(customer) == []  # nothing computed yet


def test_nightly_task_and_purchases_import_rebuild_the_affinity():
    from django.conf import settings

    from customers.services.affinity import DEFAULT_MIN_CUSTOMERS
    from customers.tasks import category_affinity_rebuild_task
    from tests.customers.helpers import run_import

    assert settings.CELERY_BEAT_SCHEDULE["nightly-category-affinity"]["task"] == (
        "customers.tasks.category_affinity_rebuild"
    )
    # Given every basket bought by two customers: Water→Filters by 6, others below the support
    _customers_with(BASKETS * 2)
    expected = _affinity_by_hand(BASKETS * 2, DEFAULT_MIN_CUSTOMERS)
    assert category_affinity_rebuild_task() == CategoryAffinity.objects.count() == len(expected)
    # When a purchases import adds a seventh customer of Water and Filters
    CustomerFactory(external_id="K1")
    CategoryAffinity.objects.all().delete()
    job = run_import(
        "purchases",
        "customer_id,order_id,purchased_at,amount,category\n"
        "K1,X1,2026-06-01 10:00,1000,Water\n"
        "K1,X1,2026-06-01 10:00,2000,Filters\n",
    )
    # Then the rebuild ran once the import committed
    assert job.state == "succeeded", job.failure
    pair = CategoryAffinity.objects.get(category="Water", other_category="Filters")
    assert pair.customers_both == expected[("Water", "Filters")]["customers_both"] + 1 == 7


# --- Contacts and callbacks ----------------------------------------------------------------


def test_contact_timeline_lists_every_contact_newest_first(django_assert_num_queries):
    customer = CustomerFactory()
    first, second = CampaignFactory(name="Reactivation"), CampaignFactory(name="VIP")
    alice = UserFactory(username="alice", first_name="Alice", last_name="Sato")
    bob = UserFactory(username="bob")
    callback = Disposition.objects.filter(callback=True).first()
    contact(customer, first, when=NOW - timedelta(days=3), agent=alice, notes="no answer")
    contact(
        customer,
        second,
        when=NOW - timedelta(days=1),
        agent=bob,
        disposition=callback,
        notes="call tomorrow",
        voice_category="request",
        voice_text="after 6 pm please",
        nps=8,
        callback_at=NOW + timedelta(days=1),
        callback_scope="personal",
    )
    contact(customer, first, when=NOW - timedelta(days=2))  # an e-mail batch: no agent
    contact(CustomerFactory(), first, when=NOW, agent=alice)  # someone else
    with django_assert_num_queries(1):
        timeline = contact_timeline(customer)
    entries = timeline.entries
    assert [e.campaign_name for e in entries] == ["VIP", "Reactivation", "Reactivation"]
    assert [e.agent_name for e in entries] == ["bob", "", "Alice Sato"]
    newest = entries[0]
    assert newest.disposition_code == callback.code
    assert newest.disposition_name == callback.display_name("en")
    assert (newest.voice_category, newest.voice_category_label, newest.voice_text) == (
        "request",
        "Request",
        "after 6 pm please",
    )
    assert (newest.nps, newest.callback_at, newest.notes) == (
        8,
        NOW + timedelta(days=1),
        "call tomorrow",
    )
    assert newest.channel_label == "Call"
    assert not timeline.has_more
    with django_assert_num_queries(1):
        limited = contact_timeline(customer, limit=2)
    assert len(limited.entries) == 2 and limited.has_more


def test_open_callbacks_are_the_customers_waiting_callback_lane_members():
    customer = CustomerFactory()
    alice = UserFactory(username="alice")
    personal, anyone, fresh, done = (CampaignFactory(name=n) for n in "ABCD")

    def member(campaign, **fields):
        return CampaignMember.objects.create(campaign=campaign, customer=customer, **fields)

    member(personal, lane=Lane.CALLBACK, due_at=NOW + timedelta(hours=5), callback_agent=alice)
    member(anyone, lane=Lane.CALLBACK, due_at=NOW + timedelta(hours=1))
    member(fresh, lane=Lane.FRESH, due_at=NOW)
    member(done, lane=Lane.CALLBACK, due_at=NOW, status=MemberStatus.DONE)
    callbacks = open_callbacks(customer)
    assert [(c.campaign_name, c.personal, c.agent_name) for c in callbacks] == [
        ("B", False, ""),
        ("A", True, "alice"),
    ]
    assert callbacks[0].due_at == NOW + timedelta(hours=1)


# --- The whole card ------------------------------------------------------------------------


def _card_queries(customer) -> int:
    with CaptureQueriesContext(connection) as queries:
        customer_card(customer, now=NOW)
    return len(queries.captured_queries)


def test_card_query_count_does_not_grow_with_purchases_contacts_or_callbacks(
    django_assert_max_num_queries,
):
    customer = CustomerFactory()
    campaign = CampaignFactory()
    buy(customer, NOW - timedelta(days=400), 3000, category="Water")
    buy(customer, NOW - timedelta(days=10), 3000, category="Tea")
    contact(customer, campaign, when=NOW - timedelta(days=5))
    segmentation_run(cause="manual")
    category_affinity_rebuild(min_customers=1)
    few = _card_queries(customer)

    agent = UserFactory()
    for day in range(60):
        buy(customer, NOW - timedelta(days=day + 1), 1000 + day, category=f"Cat{day % 7}")
    for day in range(70):
        contact(customer, CampaignFactory(), when=NOW - timedelta(hours=day + 1), agent=agent)
    for n in range(3):
        CampaignMember.objects.create(
            campaign=CampaignFactory(),
            customer=customer,
            lane=Lane.CALLBACK,
            due_at=NOW + timedelta(hours=n),
            callback_agent=agent if n else None,
        )
    segmentation_run(cause="manual")
    category_affinity_rebuild(min_customers=1)
    many = _card_queries(customer)

    assert many == few
    with django_assert_max_num_queries(10):
        card = customer_card(customer, now=NOW)
    assert card.purchases.line_count == 62
    assert len(card.contacts.entries) == 50 and card.contacts.has_more
    assert len(card.callbacks) == 3


def test_card_bundles_age_local_time_segment_ltv_and_cross_sell():
    # Given a customer in New York born on 11 June 1990 with two years of purchases
    customer = CustomerFactory(time_zone="America/New_York", birth_date=date(1990, 6, 11))
    for month in range(24):
        buy(customer, NOW - timedelta(days=730 - 30 * month), 5000, category="Water")
    others = _customers_with(BASKETS)
    assert others
    segmentation_run(cause="manual")
    category_affinity_rebuild(min_customers=1)
    # When the card is read at 15:00 in Tokyo (02:00 in New York, still 10 June there)
    card = customer_card(customer, now=NOW)
    # Then
    assert card.local_time.hour == 2 and card.time_zone == "America/New_York"
    assert not card.time_zone_is_fallback
    assert card.age == 35  # turns 36 on 11 June
    assert customer_card(customer, now=NOW + timedelta(days=1)).age == 36
    assert card.purchases.order_count == 24
    assert card.ltv.formula == LtvFormula.ORDER_VALUE and card.ltv.chosen
    assert [r.formula for r in card.ltv_by_formula] == list(LtvFormula.values)
    assert card.ltv.value == customer_ltv(customer, reference_date=TODAY).value
    # Water buyers (the customer is the seventh): 3 of 7 also bought Filters
    assert [(s.category, s.percent) for s in card.cross_sell][:1] == [("Filters", 43)]
    # The segment is the one the full explanation picks, with every condition of its rule met
    explain = customer_explain(customer=customer)
    assert card.segment is not None and explain is not None
    assert card.segment.segment_id == explain["winner"].pk == explain["stored_segment"].pk
    assert (card.segment.r, card.segment.f, card.segment.m) == (
        explain["rfm"].r,
        explain["rfm"].f,
        explain["rfm"].m,
    )
    assert card.segment.checks and all(check.matched for check in card.segment.checks)
    assert card.segment.why.startswith(explain["winner"].display_name())
    assert card.segment.edges["r"][0].startswith("R5")


def test_card_of_an_unknown_zone_falls_back_to_the_campaign_or_site_zone():
    customer = CustomerFactory(time_zone="", birth_date=None)
    card = customer_card(customer, now=NOW)
    assert (card.time_zone, card.time_zone_is_fallback) == ("Asia/Tokyo", True)
    assert card.age is None and card.segment is None and card.cross_sell == ()
    campaign = CampaignFactory(time_zone="Europe/London")
    card = customer_card(customer, now=NOW, campaign=campaign)
    assert (card.time_zone, card.time_zone_is_fallback, card.local_time.hour) == (
        "Europe/London",
        True,
        7,
    )
    assert card.ltv.formula == LtvFormula.ORDER_VALUE and card.ltv.value == 0
