"""On PostgreSQL identifier columns compare bytewise ("C" collation, migration 0008), and the
lookups that compare them with other tables' columns still probe the indexes."""

import importlib

import pytest
from django.db import connection

from customers.importing.staging import Dialect
from customers.models import Customer, DoNotContact, Purchase

IDENTIFIER_COLUMNS = importlib.import_module(
    "customers.migrations.0008_identifier_collation_c"
).IDENTIFIER_COLUMNS


def _collations(table: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname, c.collname FROM pg_attribute a "
            "JOIN pg_collation c ON c.oid = a.attcollation "
            "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            [table],
        )
        return dict(cursor.fetchall())


def _plan(sql: str) -> str:
    """The plan of ``sql`` with sequential scans and hash/merge joins priced out, so an index
    that can serve a lookup is used even on the test's empty tables."""
    with connection.cursor() as cursor:
        for setting in ("enable_seqscan", "enable_hashjoin", "enable_mergejoin"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute(f"EXPLAIN {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.postgres_only
def test_identifier_columns_use_the_c_collation(postgres):
    models = {"customer": Customer, "purchase": Purchase, "donotcontact": DoNotContact}
    assert set(IDENTIFIER_COLUMNS) == set(models)
    for name, columns in IDENTIFIER_COLUMNS.items():
        collations = _collations(models[name]._meta.db_table)
        for column in columns:
            assert collations[column] == "C", f"{name}.{column}"
    # Text shown to people keeps the database's collation.
    assert _collations("customers_customer")["name"] == "default"


@pytest.mark.postgres_only
def test_do_not_contact_lookups_from_a_customer_use_the_list_indexes(postgres):
    for column, target, index in (
        ("phone", "phone", "dnc_phone_idx"),
        ("phone", "mobile_phone", "dnc_phone_idx"),
        ("email", "email", "dnc_email_idx"),
    ):
        plan = _plan(
            "SELECT EXISTS (SELECT 1 FROM customers_donotcontact d "
            f"WHERE d.{column} = c.{target}) FROM customers_customer c WHERE c.id = 1"
        )
        assert index in plan, plan


@pytest.mark.postgres_only
def test_lookups_from_a_default_collation_staging_table_use_the_target_indexes(postgres):
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE stage (external_id text, phone text, email text, line_key text)"
        )
    for sql, index in (
        (
            "SELECT (SELECT c.id FROM customers_customer c WHERE c.source = 'a' "
            "AND c.external_id = s.external_id) FROM stage s",
            "customer_unique_external_id_per_source",
        ),
        (
            "SELECT (SELECT MIN(c.id) FROM customers_customer c WHERE c.source = 'a' "
            f"AND {Dialect().same('c.mobile_phone', 's.phone')}) FROM stage s",
            "customer_mobile_idx",
        ),
        (
            "SELECT (SELECT MIN(c.id) FROM customers_customer c WHERE c.source = 'a' "
            f"AND {Dialect().same('c.email', 's.email')}) FROM stage s",
            "customer_email_idx",
        ),
        (
            "SELECT (SELECT p.id FROM customers_purchase p WHERE p.source = 'a' "
            "AND p.line_key = s.line_key) FROM stage s",
            "purchase_unique_line_per_source",
        ),
    ):
        plan = _plan(sql)
        assert index in plan, plan
