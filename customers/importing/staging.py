"""Per-job staging tables and the few SQL spellings that differ between PostgreSQL and SQLite.

Normalised batches are appended to a staging table (COPY on PostgreSQL); the merge then works
set-based in SQL. The staging table is rebuilt from the file on every run of a job, so a run that
died half-way is simply run again.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import polars as pl
from django.db import connection, transaction

from customers.importing.records import STAGE_COLUMNS, error_message
from customers.models import ImportRowError
from customers.models.people import LookupHash

COPY_CHUNK = 1 << 20


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


class Dialect:
    """SQL fragments whose spelling differs between PostgreSQL and SQLite."""

    def __init__(self) -> None:
        self.pg = is_postgres()

    def distinct(self, a: str, b: str) -> str:
        return f"({a} IS DISTINCT FROM {b})" if self.pg else f"({a} IS NOT {b})"

    def cast(self, expr: str, sql_type: str) -> str:
        if self.pg:
            if sql_type == "timestamptz":
                # Staged times are UTC; say so rather than trust the session time zone.
                return f"CAST({expr} || '+00' AS timestamptz)"
            return f"CAST({expr} AS {sql_type})"
        # SQLite keeps dates, times and JSON as text in the formats Django writes; numbers need
        # their affinity or '1200' and 1200 would compare as different.
        if sql_type in ("numeric", "integer"):
            return f"CAST({expr} AS {sql_type.upper()})"
        return expr

    def json_merge(self, base: str, patch: str) -> str:
        if self.pg:
            return f"(COALESCE({base}, '{{}}'::jsonb) || COALESCE(CAST({patch} AS jsonb), '{{}}'::jsonb))"
        return f"json_patch(json(COALESCE({base}, '{{}}')), COALESCE({patch}, '{{}}'))"

    def json_changes(self, base: str, patch: str) -> str:
        """True when merging ``patch`` into ``base`` would change it."""
        if self.pg:
            return f"({patch} IS NOT NULL AND NOT (COALESCE({base}, '{{}}'::jsonb) @> CAST({patch} AS jsonb)))"
        return f"({patch} IS NOT NULL AND {self.json_merge(base, patch)} IS NOT json(COALESCE({base}, '{{}}')))"

    def json_equal(self, stored: str, staged: str) -> str:
        """Stored JSON equals the staged JSON text (a NULL staged value means an empty object)."""
        if self.pg:
            return f"({stored} = COALESCE(CAST({staged} AS jsonb), '{{}}'::jsonb))"
        return f"(json({stored}) = json(COALESCE({staged}, '{{}}')))"

    def json_object_fold(self, table: str, group_key: str) -> str:
        """Merge the ``attributes`` objects of a group's rows, later rows winning per key."""
        if self.pg:
            return (
                f"(SELECT jsonb_object_agg(e.key, e.value ORDER BY r.row_no) FROM {table} r, "
                f"jsonb_each(CAST(r.attributes AS jsonb)) e WHERE r.gkey = {group_key})::text"
            )
        return (
            f"(SELECT json_group_object(e.key, e.value) FROM "
            f"(SELECT * FROM {table} r WHERE r.gkey = {group_key} ORDER BY r.row_no) r, "
            f"json_each(r.attributes) e)"
        )

    def same(self, stored: str, staged: str) -> str:
        """``stored`` (a customer column with a ``LookupHash`` index) equals ``staged``, spelled
        so that PostgreSQL finds it through that index: the hash first, then the value."""
        if self.pg:
            hashed = LookupHash.SQL
            return f"({hashed % stored} = {hashed % staged} AND {stored} = {staged})"
        return f"({stored} = {staged})"

    def text(self, expr: str) -> str:
        return f"CAST({expr} AS text)" if self.pg else f"CAST({expr} AS TEXT)"


class StageTable:
    """A plain table of text columns holding one job's normalised rows."""

    def __init__(self, job_id: int, kind: str, suffix: str = "") -> None:
        self.name = f"import_stage_{job_id}{suffix}"
        self.columns: Sequence[str] = STAGE_COLUMNS[kind]

    def derived(self, suffix: str) -> str:
        return quote(f"{self.name}_{suffix}")

    @property
    def sql_name(self) -> str:
        return quote(self.name)

    def create(self) -> None:
        self.drop()
        columns = ", ".join(
            f"{quote(c)} {'bigint' if c == 'row_no' else 'text'}" for c in self.columns
        )
        unlogged = "UNLOGGED " if is_postgres() else ""
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE {unlogged}TABLE {self.sql_name} ({columns})")

    def drop(self) -> None:
        with connection.cursor() as cursor:
            for suffix in ("", "_r", "_d", "_dr", "_f", "_fw"):
                cursor.execute(f"DROP TABLE IF EXISTS {quote(self.name + suffix)}")

    def append(self, records: pl.DataFrame) -> None:
        if records.height == 0:
            return
        frame = records.select(list(self.columns))
        table = self.sql_name
        column_list = ", ".join(quote(c) for c in self.columns)
        copy_rows(
            frame,
            f"COPY {table} ({column_list}) FROM STDIN (FORMAT csv)",
            f"INSERT INTO {table} ({column_list}) VALUES ({', '.join(['%s'] * len(self.columns))})",
        )


def copy_rows(frame: pl.DataFrame, copy_sql: str, insert_sql: str) -> None:
    """Append a frame to a table: COPY on PostgreSQL, executemany elsewhere (in one transaction,
    or SQLite would sync the disk once per row)."""
    with transaction.atomic(), connection.cursor() as cursor:
        if is_postgres():
            buffer = io.BytesIO()
            frame.write_csv(buffer, include_header=False, null_value="")
            view = buffer.getbuffer()
            with cursor.cursor.copy(copy_sql) as copy:
                for start in range(0, len(view), COPY_CHUNK):
                    copy.write(view[start : start + COPY_CHUNK])
            view.release()
        else:
            cursor.executemany(insert_sql, frame.rows())


ERROR_COLUMNS = ("job_id", "row_number", "column", "value", "code", "message")


def error_rows(job_id: int, errors: pl.DataFrame) -> pl.DataFrame:
    """Rejected cells/rows of a batch as rows of the job's error table (columns ERROR_COLUMNS),
    with a readable reason per code."""
    codes = errors["code"].unique().to_list()
    messages = {code: error_message(code) for code in codes}
    return errors.select(
        pl.lit(job_id, dtype=pl.Int64).alias("job_id"),
        pl.col("row_no"),
        pl.col("column").fill_null(""),
        pl.col("value").fill_null("").str.slice(0, 2000),
        pl.col("code"),
        pl.col("code").replace_strict(messages, return_dtype=pl.String).alias("message"),
    )


def errors_copy_sql() -> str:
    table = quote(ImportRowError._meta.db_table)
    column_list = ", ".join(quote(n) for n in ERROR_COLUMNS)
    not_null = ", ".join(quote(n) for n in ERROR_COLUMNS[2:4])
    return f"COPY {table} ({column_list}) FROM STDIN (FORMAT csv, FORCE_NOT_NULL ({not_null}))"


def append_errors(job_id: int, errors: pl.DataFrame) -> None:
    """Store rejected cells/rows for a job, with a readable reason per code."""
    if errors.height == 0:
        return
    table = quote(ImportRowError._meta.db_table)
    column_list = ", ".join(quote(n) for n in ERROR_COLUMNS)
    copy_rows(
        error_rows(job_id, errors),
        errors_copy_sql(),
        f"INSERT INTO {table} ({column_list}) VALUES (%s, %s, %s, %s, %s, %s)",
    )


__all__ = [
    "ERROR_COLUMNS",
    "Dialect",
    "StageTable",
    "append_errors",
    "copy_rows",
    "error_rows",
    "errors_copy_sql",
    "is_postgres",
    "quote",
]
