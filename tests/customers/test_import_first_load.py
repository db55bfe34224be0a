"""A first load of a source goes straight into the target table; it must store exactly what the
staged merge would, and hand every file that needs folding to the staged merge."""

import polars as pl
import pytest
from django.conf import settings

from customers.importing import direct
from customers.models import Customer, ImportJob, ImportRowError, Purchase
from tests.customers.helpers import assert_reconciles, run_import

CUSTOMERS = (
    "顧客ID,氏名,フリガナ,電話番号,携帯電話,メールアドレス,生年月日,性別,郵便番号,住所,国,会員ランク,興味\n"
    "C1,山田 太郎,ヤマダ タロウ,03-1234-5678,,taro@Example.JP,1980/01/02,男性,100-0001,東京都千代田区1-1,,ゴールド,家電、旅行\n"
    "C2,佐藤 花子,,,090-1111-2222,,,女,,大阪府大阪市北区1,,,\n"
    "C3,鈴木,,電話なし,,,,,,,,,\n"  # invalid phone: an error row
    ",田中,,,080-3333-4444,tanaka@example.jp,平成2年3月4日,,,,JP,一般,\n"
    "C5,,,,,,,,,,US,,\n"
)
PURCHASES = (
    "注文番号,明細番号,顧客ID,購入日時,商品コード,商品名,カテゴリ,数量,単価,金額,店舗\n"
    "O1,1,C1,2024/01/05 10:00,P1,お茶,飲料,2,150,300,新宿\n"
    "O1,2,C1,2024/01/05 10:00,P2,菓子,,1,,¥1,200,\n"
    "O2,1,C2,2024-02-01,P3,本,書籍,,,980,\n"
    "O3,1,C9,2024-02-02,P3,本,書籍,1,,980,\n"  # unknown customer
    "O4,1,C2,,P3,本,書籍,1,,980,\n"  # no date
)
CUSTOMER_FIELDS = [
    f.name
    for f in Customer._meta.fields
    if f.name not in ("id", "source", "created_at", "updated_at")
]
PURCHASE_FIELDS = [
    "customer__external_id",
    "line_key",
    "order_id",
    "purchased_at",
    "amount",
    "currency",
    "quantity",
    "product_code",
    "product_name",
    "category",
    "attributes",
]


def _staged_only(monkeypatch):
    monkeypatch.setattr(direct, "applies", lambda **kwargs: False)


@pytest.fixture(params=["small", "bulk", "bulk without pgpq"])
def copy_formats(request, monkeypatch):
    """A first load of a small file, or a bulk load (column defaults for the columns every row
    shares; customers in COPY's binary format, or text where pgpq is not installed). Returns
    the COPY format each load must use for customers, and {table: formats used} as it goes."""
    from customers.importing import merge

    if request.param != "small":
        monkeypatch.setattr(merge, "_is_bulk_load", lambda table, inserting: True)
    if request.param == "bulk without pgpq":
        monkeypatch.setattr(direct, "ArrowToPostgresBinaryEncoder", None)
    used: dict[str, set[str]] = {}
    copy = direct._copy

    def recording(pg_connection, sql, data):
        table = sql.split()[1].strip('"')
        used.setdefault(table, set()).add(sql.rsplit("FORMAT ", 1)[1].split(",")[0].rstrip(")"))
        return copy(pg_connection, sql, data)

    monkeypatch.setattr(direct, "_copy", recording)
    binary = request.param == "bulk" and direct.ArrowToPostgresBinaryEncoder is not None
    return "binary" if binary else "text", used


def assert_sources_alike() -> None:
    """Source "a" (loaded directly) holds exactly what source "b" (staged merge) holds."""
    assert list(
        Customer.objects.filter(source="a").order_by("id").values(*CUSTOMER_FIELDS)
    ) == list(Customer.objects.filter(source="b").order_by("id").values(*CUSTOMER_FIELDS))
    assert list(
        Purchase.objects.filter(source="a").order_by("line_key").values(*PURCHASE_FIELDS)
    ) == list(Purchase.objects.filter(source="b").order_by("line_key").values(*PURCHASE_FIELDS))


def _errors(job):
    return sorted(ImportRowError.objects.filter(job=job).values_list("row_number", "code", "value"))


@pytest.mark.postgres_only
def test_a_first_load_stores_what_the_staged_merge_stores(postgres, monkeypatch, copy_formats):
    direct_customers = run_import("customers", CUSTOMERS, source="a", match_by=["external_id"])
    direct_purchases = run_import("purchases", PURCHASES, source="a")
    _assert_copied_as(copy_formats)
    _staged_only(monkeypatch)
    staged_customers = run_import("customers", CUSTOMERS, source="b", match_by=["external_id"])
    staged_purchases = run_import("purchases", PURCHASES, source="b")

    assert "load" in direct_customers.timings and "load" in direct_purchases.timings
    assert "merge" in staged_customers.timings and "merge" in staged_purchases.timings
    for direct_job, staged_job in [
        (direct_customers, staged_customers),
        (direct_purchases, staged_purchases),
    ]:
        assert_reconciles(direct_job)
        counts = ("created_count", "updated_count", "unchanged_count", "error_count", "rows_total")
        assert [getattr(direct_job, c) for c in counts] == [getattr(staged_job, c) for c in counts]
        assert _errors(direct_job) == _errors(staged_job)
        assert direct_job.preview == staged_job.preview
    assert_sources_alike()
    assert (direct_customers.created_count, direct_purchases.created_count) == (4, 3)
    assert {code for _row, code, _value in _errors(direct_purchases)} == {
        "unknown_customer",
        "missing_purchased_at",
    }


@pytest.mark.postgres_only
def test_a_first_load_stores_many_batches_and_reimports_unchanged(postgres, monkeypatch):
    monkeypatch.setattr(settings, "IMPORT_BATCH_ROWS", 3)
    text = "顧客ID,氏名,携帯電話\n" + "".join(
        f"C{i},顧客{i},090{10_000_000 + i}\n" for i in range(10)
    )

    first = run_import("customers", text)
    again = run_import("customers", text)

    assert_reconciles(first)
    assert "load" in first.timings
    assert (first.created_count, first.rows_total) == (10, 10)
    assert (again.created_count, again.unchanged_count) == (0, 10)
    assert list(Customer.objects.order_by("id").values_list("external_id", flat=True)) == [
        f"C{i}" for i in range(10)
    ]


@pytest.mark.postgres_only
@pytest.mark.parametrize("batch_rows", [100, 2])  # one batch; the repeat in a later batch
def test_a_repeated_customer_id_on_a_first_load_is_folded_by_the_staged_merge(
    postgres, monkeypatch, batch_rows
):
    monkeypatch.setattr(settings, "IMPORT_BATCH_ROWS", batch_rows)
    text = "顧客ID,氏名,メールアドレス\nC1,一郎,\nC2,二郎,\nC3,三郎,\nC1,,ichiro@example.jp\n"

    job = run_import("customers", text)

    assert_reconciles(job)
    assert "merge" in job.timings  # handed over
    assert (job.created_count, job.duplicate_rows, Customer.objects.count()) == (3, 1, 3)
    assert Customer.objects.get(external_id="C1").email == "ichiro@example.jp"


@pytest.mark.postgres_only
def test_a_repeated_phone_without_customer_id_is_folded_when_matching_by_phone(postgres):
    text = "氏名,携帯電話\n一郎,090-1111-2222\n次郎,090-3333-4444\n一郎,09011112222\n"

    by_phone = run_import("customers", text, source="p", match_by=["external_id", "phone"])
    by_row = run_import("customers", text, source="r", match_by=["external_id"])

    assert_reconciles(by_phone)
    assert "merge" in by_phone.timings
    assert (by_phone.created_count, by_phone.duplicate_rows) == (2, 1)
    assert "load" in by_row.timings  # without phone matching every row is its own customer
    assert by_row.created_count == 3


@pytest.mark.postgres_only
@pytest.mark.parametrize("batch_rows", [100, 1])
def test_a_repeated_purchase_line_on_a_first_load_goes_to_the_staged_merge(
    postgres, monkeypatch, batch_rows
):
    run_import("customers", "顧客ID,氏名\nC1,一郎\n")
    monkeypatch.setattr(settings, "IMPORT_BATCH_ROWS", batch_rows)
    text = "注文番号,明細番号,顧客ID,購入日,金額\nO1,1,C1,2024/01/05,100\nO1,1,C1,2024/01/05,120\n"

    job = run_import("purchases", text)

    assert_reconciles(job)
    assert "merge" in job.timings
    assert (job.created_count, job.updated_count, Purchase.objects.count()) == (1, 1, 1)
    assert Purchase.objects.get().amount == 120


@pytest.mark.postgres_only
def test_purchase_lines_without_a_line_id_go_to_the_staged_merge(postgres):
    run_import("customers", "顧客ID,氏名\nC1,一郎\n")
    text = "注文番号,顧客ID,購入日,金額\nO1,C1,2024/01/05,100\nO1,C1,2024/01/05,100\n"

    job = run_import("purchases", text)

    assert_reconciles(job)
    assert "merge" in job.timings
    assert sorted(Purchase.objects.values_list("line_key", flat=True)) == ["O1#1", "O1#2"]


@pytest.mark.postgres_only
def test_a_dry_run_never_takes_the_direct_path(postgres):
    job = run_import("customers", "顧客ID,氏名\nC1,一郎\n", dry_run=True)

    assert "merge" in job.timings
    assert job.created_count == 1
    assert Customer.objects.count() == 0


def test_customer_ids_are_found_even_when_hashes_collide(monkeypatch):
    customers = pl.DataFrame(
        {"customer_external_id": ["A", "B", "C"], "customer_id": [10, 20, 30]},
        schema={"customer_external_id": pl.String, "customer_id": pl.Int64},
    )
    monkeypatch.setattr(
        direct._CustomerIndex, "_hash", lambda self, keys: keys.str.len_bytes().cast(pl.UInt64)
    )
    index = direct._CustomerIndex(customers)

    found = index.lookup(pl.Series(["C", "X", "A", "B", "C"]))

    assert found.to_list() == [30, None, 10, 20, 30]
    assert direct._CustomerIndex(customers.clear()).lookup(pl.Series(["A"])).to_list() == [None]


@pytest.mark.postgres_only
def test_a_repeat_found_when_a_bulk_first_load_rebuilds_its_unique_keys_is_merged(
    postgres, monkeypatch
):
    from customers.importing import merge

    monkeypatch.setattr(merge, "BULK_LOAD_MIN_ROWS", 1)  # unique constraints dropped and rebuilt
    monkeypatch.setattr(settings, "IMPORT_BATCH_ROWS", 2)
    customers = "顧客ID,氏名\nC1,一郎\nC2,二郎\nC3,三郎\nC1,一朗\n"
    purchases = "注文番号,明細番号,顧客ID,購入日,金額\n" + "".join(
        f"O{i},1,C{1 + i % 3},2024/01/05,{100 + i}\n" for i in range(5)
    )

    first = run_import("customers", customers)
    lines = run_import("purchases", purchases + "O0,1,C1,2024/01/05,999\n")

    for job in (first, lines):
        assert_reconciles(job)
        assert "merge" in job.timings
    assert (first.created_count, first.updated_count, Customer.objects.count()) == (3, 1, 3)
    assert Customer.objects.get(external_id="C1").name == "一朗"
    assert (lines.created_count, lines.updated_count, Purchase.objects.count()) == (5, 1, 5)
    assert Purchase.objects.get(line_key="O0#1").amount == 999
    constraints = {name for name, _ in merge._constraints("customers_customer", "u")}
    assert "customer_unique_external_id_per_source" in constraints


@pytest.mark.postgres_only
def test_ids_taken_in_ranges_by_a_bulk_first_load_never_clash_with_later_rows(
    postgres, monkeypatch
):
    from customers.importing import merge

    monkeypatch.setattr(merge, "BULK_LOAD_MIN_ROWS", 1)
    monkeypatch.setattr(settings, "IMPORT_BATCH_ROWS", 2)
    run_import("customers", "顧客ID,氏名\nC1,一郎\nC2,二郎\nC3,三郎\n")
    text = "注文番号,明細番号,顧客ID,購入日,金額\n" + "".join(
        f"O{i},1,C{1 + i % 3},2024/01/05,{100 + i}\n" for i in range(5)
    )
    first = run_import("purchases", text)
    Purchase.objects.create(
        customer=Customer.objects.get(external_id="C1"),
        line_key="manual",
        purchased_at="2024-01-06T00:00:00Z",
        amount=1,
    )
    more = run_import("purchases", text.replace("O", "P"))  # staged: the source has rows

    assert "load" in first.timings and "merge" in more.timings
    assert (first.created_count, more.created_count) == (5, 5)
    ids = list(Purchase.objects.values_list("id", flat=True))
    assert len(ids) == len(set(ids)) == 11


def _column_defaults(table: str) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, column_default FROM information_schema.columns "
            "WHERE table_name = %s",
            [table],
        )
        return dict(cursor.fetchall())


@pytest.mark.postgres_only
def test_a_bulk_first_load_stores_source_and_times_and_leaves_column_defaults_as_they_were(
    postgres, monkeypatch
):
    from customers.importing import merge

    monkeypatch.setattr(merge, "_is_bulk_load", lambda table, inserting: True)
    before = {t: _column_defaults(t) for t in ("customers_customer", "customers_purchase")}

    customers = run_import("customers", "顧客ID,氏名\nC1,一郎\nC2,二郎\n", source="shop")
    lines = run_import(
        "purchases", "注文番号,明細番号,顧客ID,購入日,金額\nO1,1,C1,2024/01/05,100\n", source="shop"
    )

    assert "merge.reindex" in customers.timings and "merge.reindex" in lines.timings
    assert {t: _column_defaults(t) for t in before} == before
    stored = Customer.objects.get(external_id="C2")
    assert stored.source == "shop"
    # The columns the file does not feed come from column defaults of the load.
    unfed = ("name_kana", "gender", "postal_code", "prefecture", "address", "time_zone")
    assert [getattr(stored, f) for f in unfed] == [""] * len(unfed)
    assert [stored.email, stored.phone, stored.mobile_phone, stored.birth_date] == [None] * 4
    assert (stored.country, stored.tags, stored.attributes) == ("JP", [], {})
    assert stored.created_at == stored.updated_at
    assert customers.started_at <= stored.created_at <= customers.finished_at
    purchase = Purchase.objects.get()
    assert (purchase.source, purchase.customer_id) == (
        "shop",
        Customer.objects.get(external_id="C1").id,
    )
    assert lines.started_at <= purchase.created_at <= lines.finished_at


@pytest.mark.postgres_only
def test_a_bulk_first_load_reads_the_prefecture_from_the_address_when_no_column_has_it(
    postgres, monkeypatch
):
    from customers.importing import merge

    monkeypatch.setattr(merge, "_is_bulk_load", lambda table, inserting: True)
    job = run_import("customers", "顧客ID,住所,姓,名\nC1,大阪府大阪市北区1-1,山田,太郎\n")

    assert "merge.reindex" in job.timings
    stored = Customer.objects.get(external_id="C1")
    assert (stored.prefecture, stored.name) == ("大阪府", "山田 太郎")


def _assert_copied_as(copy_formats) -> None:
    expected, used = copy_formats
    assert (used["customers_customer"], used["customers_purchase"]) == ({expected}, {"text"})


@pytest.mark.postgres_only
def test_a_first_load_stores_backslashes_quotes_and_null_lookalikes_as_written(
    postgres, monkeypatch, copy_formats
):
    # In COPY's text format a backslash starts an escape; in the binary one, a string is sent
    # as it is, with its length.
    customers = (
        "顧客ID,氏名,住所,メモ,興味\n"
        'C\\1,\\N,"C:\\new\\table ""x""",\\,"a\\b、""q"""\n'
        'C2,\\.,"tab\there",\\t\\n,\\\n'
        "C3,山田,,,\n"
    )
    purchases = (
        "注文番号,明細番号,顧客ID,購入日時,商品名,金額,備考\n"
        'O\\1,1,C\\1,2024-01-05,"\\N",100,\\\\\n'
        "O2,1,C2,2024-01-05,\\.,200,\n"
    )
    direct_customers = run_import("customers", customers, source="a")
    direct_purchases = run_import("purchases", purchases, source="a")
    _assert_copied_as(copy_formats)
    _staged_only(monkeypatch)
    run_import("customers", customers, source="b")
    run_import("purchases", purchases, source="b")

    assert "load" in direct_customers.timings and "load" in direct_purchases.timings
    assert (direct_customers.created_count, direct_purchases.created_count) == (3, 2)
    assert_sources_alike()
    first = Customer.objects.get(source="a", external_id="C\\1")
    assert (first.name, first.address) == ("\\N", 'C:\\new\\table "x"')
    assert first.attributes == {"メモ": "\\"}
    assert Customer.objects.get(source="a", external_id="C2").name == "\\."
    assert Purchase.objects.get(source="a", line_key="O\\1#1").product_name == "\\N"


@pytest.mark.postgres_only
def test_a_first_load_fails_whole_when_a_copy_stores_fewer_rows_than_its_batch(
    postgres, monkeypatch, copy_formats
):
    text, binary = direct._text, direct._BinaryEncoder.__call__
    monkeypatch.setattr(direct, "_text", lambda frame: text(frame.head(frame.height - 1)))
    monkeypatch.setattr(
        direct._BinaryEncoder, "__call__", lambda self, frame: binary(self, frame.head(-1))
    )

    with pytest.raises(RuntimeError, match="COPY stored 1 rows of 2"):
        run_import("customers", "顧客ID,氏名\nC1,一郎\nC2,二郎\n")

    job = ImportJob.objects.get()
    assert job.state == "failed"
    assert "COPY stored 1 rows of 2" in job.failure
    assert not Customer.objects.exists()
    assert copy_formats[1]["customers_customer"] == {copy_formats[0]}
