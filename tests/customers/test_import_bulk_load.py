"""A bulk load builds the lookup indexes once instead of row by row, and leaves them as they were."""

import pytest
from django.db import connection

from customers.importing import merge
from customers.models import Customer
from tests.customers.helpers import assert_reconciles, run_import


def _index_definitions(table: str) -> dict[str, str]:
    """Indexes and constraints of a table, as PostgreSQL describes them."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        definitions = dict(cursor.fetchall())
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass",
            [table],
        )
        definitions.update(cursor.fetchall())
        return definitions


@pytest.mark.postgres_only
def test_a_bulk_load_rebuilds_exactly_the_same_indexes(postgres, monkeypatch):
    monkeypatch.setattr(merge, "BULK_LOAD_MIN_ROWS", 2)
    before = _index_definitions("customers_customer")
    text = "顧客ID,氏名,携帯電話,メールアドレス\n" + "".join(
        f"C{i},顧客{i},090{10_000_000 + i},c{i}@example.jp\n" for i in range(20)
    )

    job = run_import("customers", text)

    assert_reconciles(job)
    assert "merge.reindex" in job.timings
    assert _index_definitions("customers_customer") == before
    assert Customer.objects.filter(mobile_phone="+819010000005").count() == 1


@pytest.mark.postgres_only
def test_lookup_indexes_hold_hashes_without_deduplication(postgres):
    definitions = _index_definitions("customers_customer")

    for name, column in [
        ("customer_phone_idx", "phone"),
        ("customer_mobile_idx", "mobile_phone"),
        ("customer_email_idx", "email"),
    ]:
        assert f"hashtextextended(({column})::text" in definitions[name]
        assert "WITH (deduplicate_items=off)" in definitions[name]
        assert f"WHERE ({column} IS NOT NULL)" in definitions[name]


@pytest.mark.django_db
def test_lookup_indexes_ask_for_no_deduplication_only_on_postgresql():
    editor = connection.SchemaEditorClass(connection, collect_sql=True)

    for index in Customer._meta.indexes:
        sql = str(index.create_sql(Customer, editor))

        assert ("deduplicate_items" in sql) == (connection.vendor == "postgresql"), sql


@pytest.mark.postgres_only
def test_only_loads_that_at_least_double_the_table_count_as_bulk(postgres, monkeypatch):
    monkeypatch.setattr(merge, "BULK_LOAD_MIN_ROWS", 2)
    Customer.objects.bulk_create(Customer(external_id=f"E{i}", name="x") for i in range(10))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")

    assert merge._is_bulk_load("customers_customer", 5) is False
    assert merge._is_bulk_load("customers_customer", 10) is True
    names = {name for name, _ in merge._plain_indexes("customers_customer")}
    assert names == {"customer_phone_idx", "customer_mobile_idx", "customer_email_idx"}
    monkeypatch.setattr(merge, "BULK_LOAD_MIN_ROWS", 50)
    assert merge._is_bulk_load("customers_customer", 10) is False


@pytest.mark.postgres_only
def test_a_bulk_load_of_purchases_checks_foreign_keys_and_rebuilds_indexes(postgres, monkeypatch):
    from customers.models import Purchase

    run_import("customers", "顧客ID,氏名\nC1,a\nC2,b\n")
    monkeypatch.setattr(merge, "BULK_LOAD_MIN_ROWS", 2)
    before = _index_definitions("customers_purchase")
    text = "注文番号,明細番号,顧客ID,購入日,金額\n" + "".join(
        f"O{i},1,C{1 + i % 2},2024/01/05,{100 + i}\n" for i in range(10)
    )

    job = run_import("purchases", text)

    assert_reconciles(job)
    assert "merge.reindex" in job.timings
    assert _index_definitions("customers_purchase") == before
    assert Purchase.objects.count() == 10
    assert any("FOREIGN KEY" in d for d in before.values())


@pytest.mark.postgres_only
def test_a_bulk_load_still_refuses_rows_that_break_a_foreign_key(postgres, monkeypatch):
    from django.db import IntegrityError, transaction

    from customers.models import Purchase

    monkeypatch.setattr(merge, "BULK_LOAD_MIN_ROWS", 1)
    with (
        pytest.raises(IntegrityError),
        transaction.atomic(),
        merge._bulk_load("customers_purchase", 10**9),  # surely a bulk load
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "INSERT INTO customers_purchase (customer_id, source, line_key, order_id, purchased_at, amount,"
            " currency, quantity, product_code, product_name, category, attributes, created_at)"
            " VALUES (999999, 's', 'k', '', now(), 1, 'JPY', 1, '', '', '', '{}', now())"
        )
    assert Purchase.objects.count() == 0


def _foreign_keys_to(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text || '.' || conname, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE confrelid = %s::regclass",
            [table],
        )
        return dict(cursor.fetchall())


def _dropped_constraints(monkeypatch) -> list[str]:
    """Names of the constraints the next bulk loads drop (and add back)."""
    dropped: list[str] = []
    original = merge._constraints

    def spy(table, types):
        found = original(table, types)
        dropped.extend(name for name, _definition in found)
        return found

    monkeypatch.setattr(merge, "_constraints", spy)
    return dropped


@pytest.mark.postgres_only
def test_a_first_load_into_an_empty_system_rebuilds_the_primary_key_and_the_keys_to_it(
    postgres, monkeypatch
):
    monkeypatch.setattr(merge, "BULK_LOAD_MIN_ROWS", 2)
    dropped = _dropped_constraints(monkeypatch)
    before = _index_definitions("customers_customer")
    references = _foreign_keys_to("customers_customer")
    text = "顧客ID,氏名\n" + "".join(f"C{i},顧客{i}\n" for i in range(20))

    job = run_import("customers", text)

    assert_reconciles(job)
    assert "customers_customer_pkey" in dropped
    assert _index_definitions("customers_customer") == before
    assert _foreign_keys_to("customers_customer") == references
    assert len(references) >= 5  # purchases, consents, do-not-contact, campaign members, …


@pytest.mark.postgres_only
def test_a_first_load_keeps_the_primary_key_when_other_tables_point_at_customers(
    postgres, monkeypatch
):
    from customers.models import DoNotContact

    other = Customer.objects.create(source="crm", external_id="X1", name="x")
    DoNotContact.objects.create(scope="customer", customer=other, reason="request")
    monkeypatch.setattr(merge, "BULK_LOAD_MIN_ROWS", 2)
    dropped = _dropped_constraints(monkeypatch)
    before = _index_definitions("customers_customer")
    references = _foreign_keys_to("customers_customer")
    text = "顧客ID,氏名\n" + "".join(f"C{i},顧客{i}\n" for i in range(20))

    job = run_import("customers", text, source="shop")

    assert_reconciles(job)
    assert "merge.reindex" in job.timings
    assert "customers_customer_pkey" not in dropped
    assert "customer_unique_external_id_per_source" in dropped
    assert _index_definitions("customers_customer") == before
    assert _foreign_keys_to("customers_customer") == references
    assert DoNotContact.objects.get().customer == other


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_first_load_waits_for_a_session_that_read_customers_and_writes_a_table_pointing_at_them(
    postgres, monkeypatch
):
    """A segmentation run, a launch or a do-not-contact entry reads customers and then writes a
    table whose foreign key points at them, in one transaction. A first load into an empty
    system that starts meanwhile waits for it and goes on; neither side is aborted."""
    import threading
    import time

    from django.db import connections, transaction

    from customers.models import DoNotContact

    Customer.objects.create(source="crm", external_id="X1", name="既存")
    monkeypatch.setattr(merge, "BULK_LOAD_MIN_ROWS", 2)
    read, other = threading.Event(), []

    def reads_then_writes():
        try:
            with transaction.atomic():
                customer = Customer.objects.get(source="crm")
                read.set()
                time.sleep(1.0)  # meanwhile the first load of "shop" starts
                DoNotContact.objects.create(scope="customer", customer=customer, reason="request")
            other.append("ok")
        except Exception as error:  # reported below
            other.append(f"{type(error).__name__}: {error}")
        finally:
            connections.close_all()

    thread = threading.Thread(target=reads_then_writes)
    thread.start()
    assert read.wait(10)
    text = "顧客ID,氏名\n" + "".join(f"C{i},顧客{i}\n" for i in range(20))
    job = run_import("customers", text, source="shop")
    thread.join(10)

    assert other == ["ok"]
    assert_reconciles(job)
    assert job.created_count == 20
    assert DoNotContact.objects.count() == 1


@pytest.mark.postgres_only
def test_tables_found_no_longer_empty_under_the_lock_are_not_kept_locked(postgres, monkeypatch):
    """The emptiness of the tables pointing at customers is checked again under the lock; if a
    row arrived meanwhile the load keeps the primary key and gives the locks back at once."""
    from django.db import transaction

    customer = Customer.objects.create(source="crm", external_id="X1", name="既存")
    checks = iter([True, False])  # empty before the lock, not under it
    monkeypatch.setattr(merge, "_fetchone", lambda sql, params=None: [next(checks)])

    with transaction.atomic():
        assert not merge._lock_if_empty("customers_customer", {"customers_donotcontact"})
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT relation::regclass::text FROM pg_locks WHERE pid = pg_backend_pid()"
                " AND mode = 'AccessExclusiveLock' AND relation IS NOT NULL"
            )
            assert cursor.fetchall() == []
    assert Customer.objects.filter(pk=customer.pk).exists()


@pytest.mark.postgres_only
def test_a_first_load_read_ahead_still_sizes_the_file_for_a_bulk_load(postgres, monkeypatch):
    # The file is read a batch ahead of the normalising, so the bytes read so far overstate
    # how far the load is: the size must come from records per byte, or a file big enough
    # for a bulk load looks too small after its first batch.
    from customers.importing import pipeline, readers

    monkeypatch.setattr(readers, "CHUNK_BYTES", 16 * 1024)
    monkeypatch.setattr(pipeline, "DIRECT_EDGE_BATCH_ROWS", 200)
    monkeypatch.setattr(pipeline, "DIRECT_BATCH_ROWS", 1_000)
    monkeypatch.setattr(merge, "BULK_LOAD_MIN_ROWS", 4_000)
    estimates = []
    original = merge._is_bulk_load
    monkeypatch.setattr(
        merge,
        "_is_bulk_load",
        lambda table, inserting: estimates.append(inserting) or original(table, inserting),
    )
    text = "顧客ID,氏名\n" + "".join(f"C{i:05d},顧客{i}\n" for i in range(5_000))

    job = run_import("customers", text)

    assert_reconciles(job)
    assert 4_500 <= estimates[0] <= 5_500
    assert "merge.reindex" in job.timings
