"""A supervisor reviews the segments, edits a rule, reads a customer's RFM explanation and the
migration matrix, in a real browser."""

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from playwright.sync_api import expect

from customers.models import (
    Customer,
    CustomerRfm,
    Purchase,
    RfmMethod,
    Segment,
    SegmentationRun,
)
from customers.segmentation.conditions import describe_conditions, validate_conditions
from customers.segmentation.defaults import DEFAULT_SEGMENTS
from customers.segmentation.scoring import current_settings
from customers.services.segments import segmentation_run
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

# Fixed cut-offs make every score certain: R5 ≤ 30 days, R4 ≤ 90, R3 ≤ 180, R2 ≤ 365, R1 beyond;
# F1 below 2 orders, F2 from 2, F3 from 3, F4 from 5, F5 from 10; M likewise from 10,000 yen.
RECENCY_CUTOFFS = [30, 90, 180, 365]
FREQUENCY_CUTOFFS = [2, 3, 5, 10]
MONETARY_CUTOFFS = [10_000, 30_000, 80_000, 200_000]

# external id, name, orders, days since the last order, amount per order -> segment (default rules)
CUSTOMERS = [
    ("S01", "青木 一郎", 10, 5, 20_000),  # R5 F5: champions
    ("S02", "井上 花子", 5, 60, 10_000),  # R4 F4: loyal
    ("S03", "上田 次郎", 2, 10, 8_000),  # R5 F2: potential loyalist
    ("S04", "江口 三郎", 3, 50, 5_000),  # R4 F3: potential loyalist
    ("S05", "小野 良子", 1, 3, 4_000),  # R5 F1: new (one purchase)
    ("S06", "加藤 四郎", 3, 300, 6_000),  # R2 F3: at risk
    ("S07", "木村 五郎", 1, 800, 3_000),  # R1, nothing in the 730-day window: lost
    ("S08", "工藤 六子", 0, None, 0),  # never bought: no purchase yet
]
SEGMENT = "potential_loyalist"
INVALID_RULE = '{"all": [{"field": "nickname", "op": "eq", "value": "ハナ"}]}'
VALID_RULE = {
    "all": [
        {"field": "r", "op": "in", "value": [4, 5]},
        {"field": "f", "op": "gte", "value": 2},
    ]
}


def _ensure_default_segments() -> None:
    # The segments are seeded by a data migration; the flush after each live_server test (this
    # file runs after other transactional tests) empties the table and nothing puts them back.
    for position, data in enumerate(DEFAULT_SEGMENTS, start=1):
        Segment.objects.get_or_create(key=data["key"], defaults={**data, "position": position * 10})


def _add_orders(customer: Customer, *, orders: int, last_days_ago: int, amount: int) -> None:
    now = timezone.now()
    first = customer.purchases.count() + 1
    for n in range(orders):
        # The last order ``last_days_ago`` days ago, the earlier ones 3 days apart before it.
        order_id = f"{customer.external_id}-{first + n}"
        Purchase.objects.create(
            customer=customer,
            line_key=f"{order_id}#1",
            order_id=order_id,
            purchased_at=now - dt.timedelta(days=last_days_ago + 3 * n),
            amount=Decimal(amount),
            product_name="ギフトセット",
            category="ギフト",
        )


@pytest.fixture
def scored_customers(transactional_db) -> dict[str, Customer]:
    """Eight customers with purchases, scored and segmented by one manual run."""
    _ensure_default_segments()
    settings = current_settings()
    settings.method = RfmMethod.CUTOFFS
    settings.recency_cutoffs = RECENCY_CUTOFFS
    settings.frequency_cutoffs = FREQUENCY_CUTOFFS
    settings.monetary_cutoffs = MONETARY_CUTOFFS
    settings.save()
    customers = {}
    for external_id, name, orders, last_days_ago, amount in CUSTOMERS:
        customer = Customer.objects.create(external_id=external_id, name=name, prefecture="東京都")
        if orders:
            _add_orders(customer, orders=orders, last_days_ago=last_days_ago, amount=amount)
        customers[external_id] = customer
    segmentation_run(cause="manual")
    placed = dict(CustomerRfm.objects.values_list("customer__external_id", "segment__key"))
    assert placed == {
        "S01": "champions",
        "S02": "loyal",
        "S03": SEGMENT,
        "S04": SEGMENT,
        "S05": "new",
        "S06": "at_risk",
        "S07": "lost",
        "S08": "no_purchase",
    }
    return customers


def _members(key: str) -> int:
    return CustomerRfm.objects.filter(segment__key=key).count()


def _open_segment_from_list(page, live_server, key: str) -> None:
    page.goto(f"{live_server.url}/customers/segments/")
    row = page.locator(f"#segments tbody tr[data-key={key}]")
    with page.expect_navigation():
        row.locator("a").click()
    segment = Segment.objects.get(key=key)
    expect(page).to_have_url(re.compile(rf"/customers/segments/{segment.pk}/$"))


def _save_rule(page, rule: str) -> None:
    page.locator("#id_conditions").fill(rule)
    with page.expect_navigation():
        page.locator("#segment-form button[name=action][value=save]").click()


def _expected_error(rule: str) -> str:
    """The message the editor must show for ``rule``, in the language of the page (Japanese)."""
    with translation.override("ja"):
        try:
            validate_conditions(json.loads(rule))
        except ValidationError as error:
            return error.messages[0]
    raise AssertionError(f"{rule} is valid")


def test_supervisor_reads_segments_filters_members_and_edits_a_rule(
    page, live_server, supervisor, scored_customers
):
    log_in(page, live_server, supervisor.username)

    # 1. The segments in rule order, with their member counts.
    page.goto(f"{live_server.url}/customers/segments/")
    rows = page.locator("#segments tbody tr")
    in_rule_order = list(Segment.objects.order_by("position", "id").values_list("key", flat=True))
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.key)") == in_rule_order
    for key in (SEGMENT, "champions"):
        expect(page.locator(f"#segments tr[data-key={key}] td.members")).to_have_text(
            str(_members(key))
        )
    assert (_members(SEGMENT), _members("champions")) == (2, 1)
    expect(page.locator("#runs tbody tr")).to_have_count(1)

    # The members of a segment, then only those with R = 4.
    _open_segment_from_list(page, live_server, SEGMENT)
    members = page.locator("#members tbody tr")
    member_count = page.locator("main .card h2 small")
    expect(member_count).to_have_text("(2)")
    expect(members).to_have_count(2)
    expect(members.nth(0)).to_contain_text("S03")
    expect(members.nth(1)).to_contain_text("S04")
    page.locator("#member-filters select[name=r]").select_option("4")
    with page.expect_navigation():
        page.locator("#member-filters button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"[?&]r=4(&|$)"))
    expect(members).to_have_count(1)
    expect(member_count).to_have_text("(1)")
    expect(members.first).to_contain_text("S04")
    expect(members.first.locator("td").nth(3)).to_have_text("4")
    expect(page.locator("#member-filters select[name=r]")).to_have_value("4")
    detail_url = page.url.split("?")[0]

    # 2. An invalid rule is refused with its own message; nothing is stored.
    segment = Segment.objects.get(key=SEGMENT)
    stored = segment.conditions
    runs_before = SegmentationRun.objects.count()
    _save_rule(page, INVALID_RULE)
    error = page.locator("#field-conditions .field-error")
    expect(error).to_have_count(1)
    expect(error).to_have_text(_expected_error(INVALID_RULE))
    expect(error).to_contain_text("nickname")
    expect(page.locator("#field-conditions")).to_have_class(re.compile(r"\bhas-error\b"))
    expect(page.locator("main .flash.success")).to_have_count(0)
    expect(page.locator("#id_conditions")).to_have_value(re.compile("nickname"))
    segment.refresh_from_db()
    assert segment.conditions == stored
    assert SegmentationRun.objects.count() == runs_before

    # A valid rule: the preview counts it (htmx), then it is saved.
    page.locator("#id_conditions").fill(json.dumps(VALID_RULE))
    with page.expect_response(re.compile(r"/customers/segments/preview/$")) as preview_response:
        page.locator("#segment-form").get_by_role("button", name="プレビュー").click()
    assert preview_response.value.status == 200
    preview = page.locator("#segment-preview")
    # On its own the rule takes S01..S04; in position 30 champions and loyal take S01 and S02 first.
    expect(preview.locator("[data-matches]")).to_have_attribute("data-matches", "4")
    expect(preview.locator("[data-in-position]")).to_have_attribute("data-in-position", "2")
    expect(preview.locator("[data-error]")).to_have_count(0)
    segment.refresh_from_db()
    assert segment.conditions == stored  # a preview saves nothing

    _save_rule(page, json.dumps(VALID_RULE))
    expect(page).to_have_url(detail_url)
    expect(page.locator("main .flash.success")).to_have_count(1)
    expect(page.locator("main .flash.error")).to_have_count(0)
    expect(page.locator("#field-conditions .field-error")).to_have_count(0)
    segment.refresh_from_db()
    assert segment.conditions == VALID_RULE
    # Saving queued a re-segmentation with the new rules (run at once: Celery is eager).
    assert SegmentationRun.objects.filter(cause=SegmentationRun.Cause.RULE_CHANGE).count() == 1
    assert _members(SEGMENT) == 2
    expect(page.locator("#members tbody tr")).to_have_count(2)
    with translation.override("ja"):
        rule_text = describe_conditions(VALID_RULE)
    expect(page.locator("p.rule-text")).to_have_text(rule_text)
    assert json.loads(page.locator("#id_conditions").input_value()) == VALID_RULE


def test_supervisor_reads_a_customers_rfm_and_the_migration_matrix(
    page, live_server, supervisor, scored_customers, artifacts
):
    log_in(page, live_server, supervisor.username)
    customer = scored_customers["S03"]
    rfm = CustomerRfm.objects.get(customer=customer)
    assert (rfm.r, rfm.f, rfm.m) == (5, 2, 2)

    # 3. From the members table to the customer's page; the RFM section arrives by htmx.
    _open_segment_from_list(page, live_server, SEGMENT)
    with page.expect_navigation():
        page.locator("#members tbody tr").filter(has_text="S03").locator("a").click()
    customer_url = f"{live_server.url}/customers/{customer.pk}/"
    expect(page).to_have_url(customer_url)
    section = page.locator("#customer-rfm")
    scores = section.locator("#rfm-scores .score")
    expect(scores).to_have_text(["R5", "F2", "M2"])
    expect(section.locator("#rfm-segment")).to_have_text("優良候補")
    matched = section.locator("#rfm-rules > li.matched")
    expect(matched).to_have_count(1)
    expect(matched).to_have_attribute("data-key", SEGMENT)
    expect(matched.locator(".mark")).to_have_text("✓")
    # Champions, loyal, new and promising were tried first and missed.
    expect(section.locator("#rfm-rules > li.missed")).to_have_count(4)
    expect(section.locator("#rfm-rules > li.missed .mark")).to_have_text(["✗", "✗", "✗", "✗"])
    expect(section.locator("#rfm-stale")).to_have_count(0)
    expect(section.locator("#segment-history tbody tr")).to_have_count(1)
    expect(page.locator("#purchases tbody tr")).to_have_count(2)
    page.screenshot(path=artifacts / "customer-rfm-ja.png", full_page=True)

    with page.expect_navigation():
        page.locator(".topbar select[name=language]").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(customer_url)
    expect(section.locator("#rfm-segment")).to_have_text("Potential loyalist")
    expect(section.locator("h2").first).to_have_text("RFM & segment")
    expect(section.locator("#rfm-scores .score")).to_have_text(["R5", "F2", "M2"])
    expect(section.locator("#rfm-rules > li.matched .mark")).to_have_text("✓")
    page.screenshot(path=artifacts / "customer-rfm-en.png", full_page=True)

    # 4. A second run after S05 bought again: S05 moves from "new" to "potential loyalist".
    _add_orders(scored_customers["S05"], orders=1, last_days_ago=1, amount=4_000)
    second = segmentation_run(cause="manual")
    assert second.customers_moved == 1
    assert CustomerRfm.objects.get(customer=scored_customers["S05"]).segment.key == SEGMENT

    page.goto(f"{live_server.url}/customers/segments/")
    with page.expect_navigation():
        page.locator("main .actions a[href$='/segments/matrix/']").click()
    expect(page).to_have_url(f"{live_server.url}/customers/segments/matrix/")
    expect(page.locator("#moved")).to_have_text("1 customer changed segment.")
    columns = page.locator("#matrix thead th.col").evaluate_all(
        "cells => cells.map(c => c.dataset.key)"
    )
    assert SEGMENT in columns and "new" in columns
    moved = page.locator("#matrix tbody tr[data-from=new] td.heat").nth(columns.index(SEGMENT))
    expect(moved).to_have_text("1")
    expect(moved).not_to_have_class(re.compile(r"\bstayed\b"))
    stayed = page.locator("#matrix tbody tr[data-from=new] td.heat").nth(columns.index("new"))
    expect(stayed).to_have_text("0")
    page.screenshot(path=artifacts / "segment-matrix-en.png", full_page=True)
