"""Set-based merge of a staged file into customers or purchases.

Rules (the same for a dry run, which counts but does not write):

Customers
- A row is matched to an existing customer of the same source by external id; if the job matches by
  phone and/or e-mail, a row not matched so far is matched by normalised phone (either number against
  either number) and then by e-mail, but never to a customer that has a different external id.
- Rows of one file that reach the same customer (or share an external id / matching key while new)
  are folded in file order: for every field the last non-empty value wins, attributes are merged.
- Empty cells never erase stored values; attributes are merged key by key; tags are replaced.
- Counting, per row: the first row of a customer is *created* (new customer), *updated* (something
  stored changes) or *unchanged*. A later row of the same customer in the same file is *unchanged*
  when the customer's stored record does not change at all or when the row repeats the previous row
  for that customer, else *updated*. created + updated + unchanged + errors = rows, always.

Purchases
- The customer is found by external id within the job's source; a row without such a customer is an
  error row (``unknown_customer``).
- The line key is ``<order id>#<line id>``; without a line id, ``<order id>#<n>`` with n the
  occurrence of that order in the file; without an order id, a natural key of customer, time,
  product, quantity and amount plus the occurrence number. Re-importing a file therefore finds
  every line again.
- Several rows with one line key: the last row wins; counted like customers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from customers.importing.records import error_message
from customers.importing.staging import Dialect, StageTable, is_postgres, quote
from customers.models import Customer, ImportRowError, Purchase

CUSTOMER_TEXT_FIELDS = (
    "name",
    "name_kana",
    "gender",
    "postal_code",
    "prefecture",
    "address",
    "time_zone",
)
CUSTOMER_NULLABLE_FIELDS = ("external_id", "email", "phone", "mobile_phone")
# The columns a new customer is inserted with, by the staged merge and the direct first load.
CUSTOMER_INSERT_COLUMNS = (
    "source",
    *CUSTOMER_TEXT_FIELDS,
    *CUSTOMER_NULLABLE_FIELDS,
    "country",
    "birth_date",
    "tags",
    "attributes",
    "created_at",
    "updated_at",
)


@dataclass
class MergeCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0
    errors: int = 0  # rows the merge itself rejected (e.g. purchases of unknown customers)
    steps: dict[str, float] = field(default_factory=dict)  # seconds per SQL step


_steps: dict[str, float] = {}


def _execute(sql: str, params: list | tuple | None = None, *, step: str = "other") -> None:
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
    _steps[step] = round(_steps.get(step, 0.0) + time.perf_counter() - started, 3)


def _create(table: str, select: str, params: list | tuple | None = None, *, step: str) -> None:
    """Materialise a working table. On PostgreSQL it is UNLOGGED (nothing to recover: a failed
    run starts again from the file) and analysed, so the next joins are planned on real sizes."""
    pg = is_postgres()
    _execute(f"CREATE {'UNLOGGED ' if pg else ''}TABLE {table} AS {select}", params, step=step)
    if pg:
        _execute(f"ANALYZE {table}", step=step)


def _fetchone(sql: str, params: list | tuple | None = None) -> tuple:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchone()


def _fetchall(sql: str, params: list | tuple | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return list(cursor.fetchall())


# Inserting at least this many rows, and at least as many as the table holds, counts as a bulk
# load: the table's plain (non-unique) indexes are dropped for the INSERT and built again after it.
BULK_LOAD_MIN_ROWS = 50_000


@contextmanager
def _bulk_load(table: str, inserting: int, *, unique: bool = False) -> Iterator[bool]:
    """Load big inserts without maintaining secondary indexes and foreign keys row by row
    (PostgreSQL only).

    Building an index once, sorted, is several times faster than inserting a million random keys
    into it, and re-adding a foreign key checks all rows in one join instead of one trigger per
    row. Both are dropped and re-created inside the merge transaction, so nothing else ever sees
    the table without them; the price is that other sessions wait on the table while a bulk load
    runs — which is why only loads that at least double the table qualify (first loads, mostly).
    Unique indexes stay unless ``unique`` (a first load, which relies on no lookup): they and
    the primary key are then rebuilt first, and a duplicate raises IntegrityError when they are.
    The primary key stays if other tables' foreign keys point at it and those tables have rows
    (their keys would all be checked again); if they are empty (a first load into a new
    system), their foreign keys are dropped with it and added back after it.
    Yields whether it is a bulk load.
    """
    if not _is_bulk_load(table, inserting):
        yield False
        return
    indexes = _plain_indexes(table, unique=unique)
    types = "f"
    referencing: list[tuple[str, str, str]] = []
    if unique:
        referencing = _referencing_foreign_keys(table)
        if _lock_if_empty(table, {other for other, _name, _definition in referencing} - {table}):
            types += "pu"
        else:
            types += "u"
            referencing = []
    constraints = _constraints(table, types)
    with connection.cursor() as cursor:
        for other, name, _definition in referencing:
            cursor.execute(f"ALTER TABLE {quote(other)} DROP CONSTRAINT {quote(name)}")
        for name, _definition in constraints:
            cursor.execute(f"ALTER TABLE {quote(table)} DROP CONSTRAINT {quote(name)}")
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {quote(name)}")
    yield True
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for name, definition in constraints:  # unique ones first: a duplicate stops it early
            cursor.execute(f"ALTER TABLE {quote(table)} ADD CONSTRAINT {quote(name)} {definition}")
        for other, name, definition in referencing:  # checked against tables kept empty
            cursor.execute(f"ALTER TABLE {quote(other)} ADD CONSTRAINT {quote(name)} {definition}")
        for _name, definition in indexes:
            cursor.execute(definition)
    _steps["reindex"] = round(time.perf_counter() - started, 3)


def _is_bulk_load(table: str, inserting: int) -> bool:
    if not is_postgres() or inserting < BULK_LOAD_MIN_ROWS:
        return False
    existing = _fetchone(
        "SELECT GREATEST(reltuples, 0) FROM pg_class WHERE oid = %s::regclass", [table]
    )[0]
    return inserting >= existing


def _plain_indexes(table: str, *, unique: bool = False) -> list[tuple[str, str]]:
    """(name, definition) of the table's non-unique indexes (with ``unique``, also of its unique
    indexes that are no constraint, the primary key never)."""
    return _fetchall(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary "
        "AND (NOT x.indisunique OR (%s AND NOT EXISTS ("
        "  SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)))",
        [table, unique],
    )


def _constraints(table: str, types: str) -> list[tuple[str, str]]:
    """(name, definition) of the table's constraints of the given types ('p' primary key,
    'u' unique, 'f' foreign key), foreign keys last."""
    return _fetchall(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype::text = ANY(%s) "
        "ORDER BY contype = 'f', conname",
        [table, list(types)],
    )


def _referencing_foreign_keys(table: str) -> list[tuple[str, str, str]]:
    """(table, name, definition) of the foreign keys of other tables that point at ``table``."""
    return _fetchall(
        "SELECT r.relname, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
        "JOIN pg_class r ON r.oid = c.conrelid "
        "WHERE c.confrelid = %s::regclass AND c.contype = 'f' ORDER BY 1, 2",
        [table],
    )


def _lock_if_empty(table: str, tables: set[str]) -> bool:
    """Whether all ``tables`` (those whose foreign keys point at ``table``) are empty, and if
    so keep them so until the transaction ends.

    Checked once without a lock, so that tables with rows are not locked; then again under an
    exclusive lock on ``table`` and them, ``table`` first: a transaction that has read
    ``table`` and now writes one of the others (a segmentation run, a launch, a do-not-contact
    entry) gets its write and finishes before the load goes on, instead of deadlocking with
    it. If they are no longer empty by then, the locks are given back (savepoint) and the load
    keeps the primary key.
    """
    if not tables:
        return True
    ordered = sorted(tables)

    def empty() -> bool:
        checks = " AND ".join(f"NOT EXISTS (SELECT 1 FROM {quote(t)})" for t in ordered)
        return bool(_fetchone(f"SELECT {checks}")[0])

    if not empty():
        return False
    savepoint = transaction.savepoint()
    with connection.cursor() as cursor:
        cursor.execute(
            f"LOCK TABLE {', '.join(quote(t) for t in [table, *ordered])} IN ACCESS EXCLUSIVE MODE"
        )
    if empty():
        transaction.savepoint_commit(savepoint)
        return True
    transaction.savepoint_rollback(savepoint)
    return False


def lock_source(source: str) -> None:
    """Serialise merges into one source so two imports cannot create the same customer twice."""
    if is_postgres():
        _execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"import-merge:{source}"])


def _duplicates(stage: StageTable) -> tuple[str, str, int]:
    """Tables of the group keys that occur more than once, and of those keys' rows (few)."""
    resolved, dups, dup_rows = stage.derived("r"), stage.derived("d"), stage.derived("dr")
    _create(
        dups, f"SELECT gkey FROM {resolved} GROUP BY gkey HAVING COUNT(*) > 1", step="duplicates"
    )
    _create(
        dup_rows,
        f"SELECT r.* FROM {resolved} r JOIN {dups} x ON x.gkey = r.gkey",
        step="duplicates",
    )
    _execute(
        f"CREATE INDEX {stage.derived('dr_gkey')} ON {dup_rows} (gkey, row_no)", step="duplicates"
    )
    count = _fetchone(f"SELECT COUNT(*) FROM {dups}")[0]
    return dups, dup_rows, int(count)


def _folded_select(stage: StageTable, fields: tuple[str, ...], d: Dialect) -> tuple[str, str]:
    """SELECT of one folded row per group key (and the table of repeated rows).

    Expects ``<stage>_r`` to exist with the stage columns plus ``target_id`` and ``gkey``.
    """
    resolved = stage.derived("r")
    dups, dup_rows, repeated = _duplicates(stage)
    singles = ", ".join(f"r.{quote(f)}" for f in fields)
    if not repeated:
        return (
            f"SELECT r.gkey, r.target_id, r.row_no AS first_row, {singles} FROM {resolved} r",
            dup_rows,
        )
    last_value = ", ".join(
        f"(SELECT r.{quote(f)} FROM {dup_rows} r WHERE r.gkey = g.gkey AND r.{quote(f)} IS NOT NULL "
        f"ORDER BY r.row_no DESC LIMIT 1) AS {quote(f)}"
        for f in fields
        if f != "attributes"
    )
    attributes = d.json_object_fold(dup_rows, "g.gkey") + " AS attributes"
    select = f"""
        SELECT r.gkey, r.target_id, r.row_no AS first_row, {singles}
        FROM {resolved} r
        WHERE NOT EXISTS (SELECT 1 FROM {dups} x WHERE x.gkey = r.gkey)
        UNION ALL
        SELECT g.gkey,
               (SELECT MAX(r.target_id) FROM {dup_rows} r WHERE r.gkey = g.gkey),
               (SELECT MIN(r.row_no) FROM {dup_rows} r WHERE r.gkey = g.gkey),
               {last_value}, {attributes}
        FROM {dups} g
        """
    return select, dup_rows


def _later_rows_counts(
    dup_rows: str, folded: str, fields: tuple[str, ...], d: Dialect
) -> tuple[int, int]:
    """(later rows of repeated groups, those of them counted as updated)."""
    lag = ", ".join(f"LAG({quote(f)}) OVER w AS {quote('p_' + f)}" for f in fields)
    differs = " OR ".join(d.distinct(f"x.{quote(f)}", f"x.{quote('p_' + f)}") for f in fields)
    total, updated = _fetchone(
        f"""
        SELECT COUNT(*), COALESCE(SUM(CASE WHEN (f.target_id IS NULL OR f.writes = 1) AND ({differs})
                                      THEN 1 ELSE 0 END), 0)
        FROM (
            SELECT r.*, ROW_NUMBER() OVER w AS pos, {lag}
            FROM {dup_rows} r
            WINDOW w AS (PARTITION BY r.gkey ORDER BY r.row_no)
        ) x JOIN {folded} f ON f.gkey = x.gkey
        WHERE x.pos > 1
        """
    )
    return int(total), int(updated)


def _first_rows_counts(folded: str) -> tuple[int, int, int]:
    created, updated, unchanged = _fetchone(
        f"""
        SELECT COALESCE(SUM(CASE WHEN target_id IS NULL THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN target_id IS NOT NULL AND writes = 1 THEN 1 ELSE 0 END), 0),
               COALESCE(SUM(CASE WHEN target_id IS NOT NULL AND writes = 0 THEN 1 ELSE 0 END), 0)
        FROM {folded}
        """
    )
    return int(created), int(updated), int(unchanged)


# --------------------------------------------------------------------------- customers


def merge_customers(
    stage: StageTable, *, source: str, match_by: list[str], default_country: str, write: bool
) -> MergeCounts:
    """Merge staged customer rows; with ``write=False`` only count what would happen."""
    _steps.clear()
    d = Dialect()
    customers = quote(Customer._meta.db_table)
    fields = tuple(c for c in stage.columns if c != "row_no")
    match_phone = "phone" in match_by
    match_email = "email" in match_by
    lock_source(source)

    def by_key(stored: str, staged: str) -> str:
        return (
            f"SELECT c.id FROM {customers} c WHERE c.source = %s "
            f"AND {d.same(f'c.{stored}', f's.{staged}')} "
            "AND (s.external_id IS NULL OR c.external_id IS NULL)"
        )

    lookups = ["e.id"]
    params: list = []
    if match_phone:
        phone_match = " UNION ALL ".join(
            by_key(stored, staged)
            for stored in ("mobile_phone", "phone")
            for staged in ("mobile_phone", "phone")
        )
        lookups.append(f"(SELECT MIN(id) FROM ({phone_match}) m)")
        params += [source] * 4
    if match_email:
        lookups.append(f"(SELECT MIN(id) FROM ({by_key('email', 'email')}) m)")
        params.append(source)
    target = f"COALESCE({', '.join(lookups)})" if len(lookups) > 1 else lookups[0]
    phone_key = (
        "WHEN t.mobile_phone IS NOT NULL THEN 'p' || t.mobile_phone "
        "WHEN t.phone IS NOT NULL THEN 'p' || t.phone "
        if match_phone
        else ""
    )
    email_key = "WHEN t.email IS NOT NULL THEN 'e' || t.email " if match_email else ""
    resolved = stage.derived("r")
    _create(
        resolved,
        f"""
        SELECT t.*,
               CASE WHEN t.target_id IS NOT NULL THEN 'c' || {d.text("t.target_id")}
                    WHEN t.external_id IS NOT NULL THEN 'x' || t.external_id
                    {phone_key}{email_key}
                    ELSE 'r' || {d.text("t.row_no")} END AS gkey
        FROM (
            SELECT s.*, {target} AS target_id
            FROM {stage.sql_name} s
            LEFT JOIN {customers} e ON e.source = %s AND e.external_id = s.external_id
        ) t
        """,
        [*params, source],
        step="resolve",
    )
    folded_select, dup_rows = _folded_select(stage, fields, d)

    # Does applying the folded record change the stored customer?
    changes = " OR ".join(
        [
            *(
                f"(f.{quote(c)} IS NOT NULL AND {d.distinct('f.' + quote(c), 'c.' + quote(c))})"
                for c in (*CUSTOMER_TEXT_FIELDS, *CUSTOMER_NULLABLE_FIELDS, "country")
            ),
            f"(f.birth_date IS NOT NULL AND {d.distinct(d.cast('f.birth_date', 'date'), 'c.birth_date')})",
            f"(f.tags IS NOT NULL AND NOT {d.json_equal('c.tags', 'f.tags')})",
            d.json_changes("c.attributes", "f.attributes"),
        ]
    )
    folded = stage.derived("fw")
    _create(
        folded,
        f"""
        SELECT f.*, CASE WHEN c.id IS NOT NULL AND ({changes}) THEN 1 ELSE 0 END AS writes
        FROM ({folded_select}) f LEFT JOIN {customers} c ON c.id = f.target_id
        """,
        step="fold",
    )
    created, updated, unchanged = _first_rows_counts(folded)
    later, later_updated = _later_rows_counts(dup_rows, folded, fields, d)
    counts = MergeCounts(
        created=created,
        updated=updated + later_updated,
        unchanged=unchanged + later - later_updated,
        duplicates=later,
        steps=_steps,
    )
    if not write:
        return counts

    now = connection.ops.adapt_datetimefield_value(timezone.now())
    assignments = ", ".join(
        [
            *(
                f"{quote(c)} = COALESCE(f.{quote(c)}, {customers}.{quote(c)})"
                for c in CUSTOMER_TEXT_FIELDS
            ),
            *(
                f"{quote(c)} = COALESCE(f.{quote(c)}, {customers}.{quote(c)})"
                for c in CUSTOMER_NULLABLE_FIELDS
            ),
            f"country = COALESCE(f.country, {customers}.country)",
            f"birth_date = COALESCE({d.cast('f.birth_date', 'date')}, {customers}.birth_date)",
            f"tags = COALESCE({d.cast('f.tags', 'jsonb')}, {customers}.tags)",
            f"attributes = {d.json_merge(customers + '.attributes', 'f.attributes')}",
            "updated_at = %s",
        ]
    )
    _execute(
        f"UPDATE {customers} SET {assignments} FROM {folded} f "
        f"WHERE {customers}.id = f.target_id AND f.writes = 1",
        [now],
        step="update",
    )
    values = [
        "%s",
        *(f"COALESCE(f.{quote(c)}, '')" for c in CUSTOMER_TEXT_FIELDS),
        *(f"f.{quote(c)}" for c in CUSTOMER_NULLABLE_FIELDS),
        "COALESCE(f.country, %s)",
        d.cast("f.birth_date", "date"),
        f"COALESCE({d.cast('f.tags', 'jsonb')}, {d.cast(chr(39) + '[]' + chr(39), 'jsonb')})",
        f"COALESCE({d.cast('f.attributes', 'jsonb')}, {d.cast(chr(39) + '{}' + chr(39), 'jsonb')})",
        "%s",
        "%s",
    ]
    with _bulk_load(Customer._meta.db_table, created):
        _execute(
            f"INSERT INTO {customers} ({', '.join(quote(c) for c in CUSTOMER_INSERT_COLUMNS)}) "
            f"SELECT {', '.join(values)} FROM {folded} f WHERE f.target_id IS NULL ORDER BY f.first_row",
            [source, default_country, now, now],
            step="insert",
        )
    return counts


# --------------------------------------------------------------------------- purchases


def merge_purchases(stage: StageTable, *, job_id: int, source: str, write: bool) -> MergeCounts:
    """Merge staged purchase lines; rows of unknown customers become error rows of the job."""
    _steps.clear()
    d = Dialect()
    customers = quote(Customer._meta.db_table)
    purchases = quote(Purchase._meta.db_table)
    errors_table = quote(ImportRowError._meta.db_table)
    lock_source(source)

    resolved = stage.derived("r")
    line_key = "s.order_id || '#' || s.line_id"
    needs_occurrence = _fetchone(
        f"SELECT EXISTS (SELECT 1 FROM {stage.sql_name} WHERE order_id IS NULL OR line_id IS NULL)"
    )[0]
    if needs_occurrence:
        # The occurrence number costs a sort of the whole file: only when some line needs it.
        occurrence = "ROW_NUMBER() OVER (PARTITION BY s.base_key ORDER BY s.row_no)"
        line_key = (
            f"CASE WHEN s.order_id IS NOT NULL AND s.line_id IS NOT NULL THEN {line_key} "
            f"ELSE s.base_key || '#' || {d.text(occurrence)} END"
        )
    _create(
        resolved,
        f"""
        SELECT s.row_no, c.id AS customer_id, s.customer_external_id, s.order_id, {line_key} AS gkey,
               s.purchased_at, s.amount, s.currency, s.quantity, s.product_code, s.product_name,
               s.category, s.attributes
        FROM {stage.sql_name} s
        LEFT JOIN {customers} c ON c.source = %s AND c.external_id = s.customer_external_id
        """,
        [source],
        step="resolve",
    )
    unknown = _fetchone(f"SELECT COUNT(*) FROM {resolved} WHERE customer_id IS NULL")[0]
    if unknown:
        _execute(
            f"INSERT INTO {errors_table} (job_id, row_number, {quote('column')}, value, code, message) "
            "SELECT %s, row_no, '', COALESCE(customer_external_id, ''), 'unknown_customer', %s "
            f"FROM {resolved} WHERE customer_id IS NULL",
            [job_id, error_message("unknown_customer")],
            step="resolve",
        )
        _execute(f"DELETE FROM {resolved} WHERE customer_id IS NULL", step="resolve")

    # Rows of one line key collapse to the last row (a purchase line is one record, not a fold).
    dups, dup_rows, repeated = _duplicates(stage)
    folded = stage.derived("fw")
    values = _purchase_values(d)
    stored_differs = " OR ".join(
        d.distinct(expression, f"p.{quote(column)}")
        for column, expression in values.items()
        if column != "attributes"
    )
    stored_differs += f" OR NOT {d.json_equal('p.attributes', 'l.attributes')}"
    lines = f"SELECT r.*, r.row_no AS first_row FROM {resolved} r"
    if repeated:
        lines = f"""
            {lines} WHERE NOT EXISTS (SELECT 1 FROM {dups} x WHERE x.gkey = r.gkey)
            UNION ALL
            SELECT r.*, g.first_row FROM {dup_rows} r JOIN (
                SELECT gkey, MIN(row_no) AS first_row, MAX(row_no) AS last_row FROM {dup_rows}
                GROUP BY gkey
            ) g ON g.gkey = r.gkey AND r.row_no = g.last_row
        """
    _create(
        folded,
        f"""
        SELECT l.*, p.id AS target_id,
               CASE WHEN p.id IS NOT NULL AND ({stored_differs}) THEN 1 ELSE 0 END AS writes
        FROM ({lines}) l
        LEFT JOIN {purchases} p ON p.source = %s AND p.line_key = l.gkey
        """,
        [source],
        step="fold",
    )
    created, updated, unchanged = _first_rows_counts(folded)
    later, later_updated = _later_rows_counts(dup_rows, folded, tuple(values), d)
    counts = MergeCounts(
        created=created,
        updated=updated + later_updated,
        unchanged=unchanged + later - later_updated,
        duplicates=later,
        errors=int(unknown),
        steps=_steps,
    )
    if not write:
        return counts
    assignments = ", ".join(
        f"{quote(column)} = {expression}" for column, expression in values.items()
    )
    _execute(
        f"UPDATE {purchases} SET {assignments} FROM {folded} l "
        f"WHERE {purchases}.id = l.target_id AND l.writes = 1",
        step="update",
    )
    columns = ", ".join(quote(c) for c in ("source", "line_key", "created_at", *values))
    with _bulk_load(Purchase._meta.db_table, created):
        _execute(
            f"INSERT INTO {purchases} ({columns}) "
            f"SELECT %s, l.gkey, %s, {', '.join(values.values())} FROM {folded} l WHERE l.target_id IS NULL",
            [source, connection.ops.adapt_datetimefield_value(timezone.now())],
            step="insert",
        )
    return counts


def _purchase_values(d: Dialect) -> dict[str, str]:
    """Stored value of each purchase column from a folded staging row ``l`` (one place for the
    defaults, so comparing, updating and inserting agree)."""
    return {
        "customer_id": "l.customer_id",
        "order_id": "COALESCE(l.order_id, '')",
        "purchased_at": d.cast("l.purchased_at", "timestamptz"),
        "amount": d.cast("l.amount", "numeric"),
        "currency": "COALESCE(l.currency, 'JPY')",
        "quantity": f"COALESCE({d.cast('l.quantity', 'integer')}, 1)",
        "product_code": "COALESCE(l.product_code, '')",
        "product_name": "COALESCE(l.product_name, '')",
        "category": "COALESCE(l.category, '')",
        "attributes": f"COALESCE({d.cast('l.attributes', 'jsonb')}, {d.cast(chr(39) + '{}' + chr(39), 'jsonb')})",
    }
