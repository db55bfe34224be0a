"""Purchase imports: customer resolution, idempotent lines, unknown customers reported."""

from decimal import Decimal

import pytest

from customers.models import Customer, ImportRowError, Purchase
from tests.customers.helpers import assert_reconciles, run_import

pytestmark = pytest.mark.django_db

HEADER = "注文番号,明細番号,顧客ID,購入日時,商品コード,商品名,カテゴリ,数量,単価,金額\n"


@pytest.fixture
def customers():
    run_import("customers", "顧客ID,氏名\nC001,山田 太郎\nC002,佐藤 花子\n")
    return {c.external_id: c for c in Customer.objects.all()}


def test_purchases_are_linked_to_customers_and_normalised(customers):
    text = HEADER + 'A-1,1,C001,2024/07/15 14:32,P01,お中元セット,ギフト,2,"¥1,500","3,000円"\n'
    job = run_import("purchases", text)

    assert_reconciles(job)
    purchase = Purchase.objects.get()
    assert purchase.customer == customers["C001"]
    assert purchase.line_key == "A-1#1"
    assert purchase.amount == Decimal("3000")
    assert purchase.quantity == 2
    assert purchase.purchased_at.isoformat() == "2024-07-15T05:32:00+00:00"  # 14:32 in Tokyo


def test_reimporting_purchases_changes_nothing_and_a_changed_line_updates(customers):
    text = (
        HEADER
        + "A-1,1,C001,2024/07/15,P01,茶,食品,1,,1000\nA-1,2,C001,2024/07/15,P02,菓子,食品,1,,500\n"
    )
    assert run_import("purchases", text).created_count == 2

    again = run_import("purchases", text)
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 2)

    changed = run_import("purchases", text.replace(",500", ",600"))
    assert (changed.updated_count, changed.unchanged_count) == (1, 1)
    assert Purchase.objects.get(line_key="A-1#2").amount == Decimal("600")
    assert Purchase.objects.count() == 2


def test_lines_without_order_numbers_are_idempotent_by_natural_key(customers):
    header = "顧客ID,購入日,商品名,数量,金額\n"
    text = (
        header + "C001,2024/01/05,茶,1,1000\nC001,2024/01/05,茶,1,1000\nC002,2024/01/06,茶,1,1000\n"
    )
    first = run_import("purchases", text)
    assert first.created_count == 3  # two identical lines stay two purchases
    again = run_import("purchases", text)
    assert (again.created_count, again.unchanged_count) == (0, 3)
    assert Purchase.objects.count() == 3


def test_an_unknown_customer_is_an_error_row_and_the_rest_is_stored(customers):
    text = (
        HEADER
        + "A-1,1,C001,2024/07/15,P01,茶,食品,1,,1000\nA-2,1,C999,2024/07/15,P01,茶,食品,1,,1000\nA-3,1,C002,bad-date,P01,茶,食品,1,,1000\n"
    )
    job = run_import("purchases", text)

    assert_reconciles(job)
    assert (job.created_count, job.error_count) == (1, 2)
    codes = dict(ImportRowError.objects.filter(job=job).values_list("row_number", "code"))
    assert codes == {3: "unknown_customer", 4: "invalid_datetime"}


def test_amount_is_computed_from_unit_price_when_missing(customers):
    job = run_import("purchases", '顧客ID,購入日,単価,数量\nC001,2024/01/05,"1,200",3\n')
    assert_reconciles(job)
    assert Purchase.objects.get().amount == Decimal("3600")


def test_an_amount_too_large_for_the_column_is_an_error_row(customers):
    job = run_import(
        "purchases", "顧客ID,購入日,金額\nC001,2024/01/05,1234567890123\nC001,2024/01/06,100\n"
    )
    assert_reconciles(job)
    assert (job.created_count, job.error_count) == (1, 1)
    assert ImportRowError.objects.get(job=job).code == "amount_too_large"
