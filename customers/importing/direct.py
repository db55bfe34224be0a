"""First load of a source: normalised batches go straight into customers / purchases by COPY.

When the target table holds no row of the job's source yet, every good row of the file becomes a
new record, so the staging table and the resolve, fold and INSERT … SELECT passes of the staged
merge (``merge.py``) only copy the data around. This path COPYs each normalised batch into the
target table instead, in one transaction for the whole file (a run that dies leaves nothing), with
the same values, counts and error rows the staged merge would produce. Purchases find their
customer ids in polars, from a table of the source's customers read once.

It applies only where the outcome is provably the same, and otherwise raises ``NotFirstLoad``
(the caller rolls back and runs the staged merge, which handles every case):

- PostgreSQL, a real run (a dry run counts through the staged merge), no row of the source yet;
- no two rows of the file reach one customer or one purchase line, i.e. nothing to fold. A repeated
  external id or line key is caught by the table's unique constraint (or earlier, within a batch);
  repeated phone / e-mail match keys of rows without an external id by a set kept here;
- every purchase row has an order id and a line id (otherwise line keys need an occurrence number
  over the whole file, which the staged merge computes).

A duplicate found late costs the work done so far; a file full of duplicates finds one early.
"""

from __future__ import annotations

import io
import queue
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import ExitStack, contextmanager

import polars as pl
import psycopg
import psycopg.sql
from django.db import IntegrityError, connection
from django.utils import timezone

from customers.importing import merge
from customers.importing.merge import (
    CUSTOMER_INSERT_COLUMNS,
    CUSTOMER_NULLABLE_FIELDS,
    CUSTOMER_TEXT_FIELDS,
    MergeCounts,
)
from customers.importing.normalize import nulls
from customers.importing.records import BatchResult
from customers.importing.staging import COPY_CHUNK, error_rows, errors_copy_sql, is_postgres, quote
from customers.models import Customer, ImportKind, Purchase

try:  # pgpq: Arrow data to COPY's binary format; arro3 hands it polars frames as Arrow data
    from arro3.core import DataType as ArrowType
    from arro3.core import Table as ArrowTable
    from pgpq import ArrowToPostgresBinaryEncoder
    from pgpq import encoders as pg_encoders
    from pgpq import schema as pg_types
except ImportError:  # no wheel for this platform (none for Linux on ARM): COPY text instead
    ArrowToPostgresBinaryEncoder = None


class NotFirstLoad(Exception):
    """The direct path does not apply (or stopped applying) to this file: use the staged merge."""


def applies(*, kind: str, dry_run: bool) -> bool:
    """Worth trying at all (the source's emptiness is checked under the merge lock)."""
    return is_postgres() and not dry_run and kind in (ImportKind.CUSTOMERS, ImportKind.PURCHASES)


def load_first(
    *,
    job_id: int,
    kind: str,
    source: str,
    match_by: list[str],
    default_country: str,
    results: Iterator[BatchResult],
    estimate_rows: Callable[[int], int],
    mapped: Collection[str] = (),
) -> MergeCounts:
    """COPY the normalised ``results`` of a first load into the target table.

    Call inside a transaction; raises ``NotFirstLoad`` (roll back, run the staged merge) when the
    source already has rows or the file needs folding. ``estimate_rows(rows so far)`` guesses the
    file's size after the first batch, to decide on a bulk load (indexes rebuilt once at the end).
    ``mapped``: the fields the file's columns are mapped to (customer fields no column feeds are
    the same on every row).
    """
    merge._steps.clear()
    model = Customer if kind == ImportKind.CUSTOMERS else Purchase
    table = model._meta.db_table
    merge.lock_source(source)
    if merge._fetchone(f"SELECT EXISTS (SELECT 1 FROM {quote(table)} WHERE source = %s)", [source])[
        0
    ]:
        raise NotFirstLoad("the source already has rows")
    now = timezone.now().isoformat()
    rows_of: _CustomerRows | _PurchaseRows
    if kind == ImportKind.CUSTOMERS:
        rows_of = _CustomerRows(source, match_by, default_country, now, mapped)
    else:
        rows_of = _PurchaseRows(source, _customer_ids(source), now)
    created = 0
    prepare = 0.0  # seconds spent turning records into table rows (customer ids included)
    writer = _Writer(connection.connection)
    try:
        with ExitStack() as stack:
            for number, result in enumerate(results):
                if number == 0:
                    # Unique constraints are rebuilt at the end too: most of the cost of a COPY
                    # into a table is keeping its indexes, and a repeat then shows up as a
                    # unique violation there (only within a batch is it found here).
                    bulk = stack.enter_context(
                        merge._bulk_load(table, estimate_rows(result.rows), unique=True)
                    )
                    # While the bulk load holds the table nobody else can insert: ids can be
                    # taken from the sequence a range per batch instead of one nextval() per
                    # row, and the columns that are the same on every row (source, times) can
                    # be column defaults for the load instead of text parsed on every row.
                    sequence = _id_sequence(table) if bulk else None
                    if sequence:
                        ids = _Ids(sequence)
                        stack.callback(ids.close)
                    constants = rows_of.constants if bulk else {}
                    if constants:
                        stack.enter_context(_column_defaults(table, constants))
                    copied = [c for c in rows_of.columns if c not in constants]
                    columns = ["id", *copied] if sequence else copied
                    encode, copy_format = copy_encoder(table, columns)
                    copy_sql = (
                        f"COPY {quote(table)} ({', '.join(quote(c) for c in columns)}) "
                        f"FROM STDIN (FORMAT {copy_format})"
                    )
                started = time.perf_counter()
                records, unknown = rows_of(result.records)
                if constants:
                    records = records.select(copied)
                if sequence and records.height:
                    records = ids.number(records)
                prepare += time.perf_counter() - started
                copies: list[_Copy] = []
                if records.height:
                    copies.append((copy_sql, records, encode))
                    created += records.height
                errors = pl.concat([result.errors, unknown], how="vertical_relaxed")
                if errors.height:
                    copies.append((errors_copy_sql(), error_rows(job_id, errors), _csv))
                writer.put(copies)
            writer.close()  # every batch is stored before the indexes are rebuilt
    except (psycopg.errors.UniqueViolation, IntegrityError) as error:
        cause = error if isinstance(error, psycopg.Error) else error.__cause__
        if not isinstance(cause, psycopg.errors.UniqueViolation):
            raise
        raise NotFirstLoad("the file repeats a customer or a purchase line") from error
    finally:
        writer.stop()
    merge._steps["insert"] = round(writer.seconds, 3)  # in the writer thread, overlapping
    merge._steps["insert.encode"] = round(writer.encode_seconds, 3)
    merge._steps["prepare"] = round(prepare, 3)
    return MergeCounts(created=created, errors=rows_of.unknown, steps=dict(merge._steps))


def _id_sequence(table: str) -> str | None:
    return merge._fetchone("SELECT pg_get_serial_sequence(%s, 'id')", [table])[0]


@contextmanager
def _column_defaults(table: str, values: dict[str, str | None]) -> Iterator[None]:
    """Make ``values`` the columns' defaults for a while (inside the load's transaction, on a
    table it holds exclusively, so nobody else ever sees them), then put the old ones back."""
    previous = dict(
        merge._fetchall(
            "SELECT a.attname, pg_get_expr(d.adbin, d.adrelid) FROM pg_attribute a "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "WHERE a.attrelid = %s::regclass AND a.attname = ANY(%s)",
            [table, list(values)],
        )
    )
    literal = connection.connection  # quotes literals the way this connection does
    changes = ", ".join(
        f"ALTER COLUMN {quote(column)} SET DEFAULT {psycopg.sql.Literal(value).as_string(literal)}"
        for column, value in values.items()
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {quote(table)} {changes}")
    yield
    restore = ", ".join(
        f"ALTER COLUMN {quote(column)} "
        + (f"SET DEFAULT {previous[column]}" if previous.get(column) else "DROP DEFAULT")
        for column in values
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {quote(table)} {restore}")


class _CustomerRows:
    """Staged customer records -> rows of the customer table (defaults as the staged INSERT)."""

    # The mapped fields each customer column is made from (``records._customer_records``).
    _SOURCES = {
        "name": ("name", "last_name", "first_name"),
        "name_kana": ("name_kana", "last_name_kana", "first_name_kana"),
        "address": ("address", "address2"),
        "prefecture": ("prefecture", "address", "address2"),
    }

    def __init__(
        self,
        source: str,
        match_by: list[str],
        default_country: str,
        now: str,
        mapped: Collection[str] = (),
    ) -> None:
        self.columns = CUSTOMER_INSERT_COLUMNS
        self.source, self.default_country, self.now = source, default_country, now
        self.constants: dict[str, str | None] = {
            "source": source,
            "created_at": now,
            "updated_at": now,
        }
        # A column no mapped field feeds holds its default on every row: a column default for
        # the load instead of a value sent and parsed a million times (time zone and country,
        # in most files). Attributes never: cells beyond the header go there.
        if mapped:
            unfed = {
                column: value
                for column, value in (
                    *((c, "") for c in CUSTOMER_TEXT_FIELDS),
                    *((c, None) for c in CUSTOMER_NULLABLE_FIELDS),
                    ("country", default_country),
                    ("birth_date", None),
                    ("tags", "[]"),
                )
                if not set(self._SOURCES.get(column, (column,))) & set(mapped)
            }
            self.constants.update(unfed)
        # Without an external id a row is grouped by its match key (staged merge: mobile phone,
        # phone, then e-mail, as far as the job matches by them); one key twice means folding.
        keys = []
        if "phone" in match_by:
            keys += [pl.lit("p") + pl.col("mobile_phone"), pl.lit("p") + pl.col("phone")]
        if "email" in match_by:
            keys.append(pl.lit("e") + pl.col("email"))
        self.match_key = pl.coalesce(keys) if keys else None
        self.seen_keys: set[str] = set()
        self.unknown = 0

    def __call__(self, records: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        if records["external_id"].drop_nulls().is_duplicated().any():
            raise NotFirstLoad("a customer id repeats")
        if self.match_key is not None:
            keys = (
                records.filter(pl.col("external_id").is_null())
                .select(self.match_key)
                .to_series()
                .drop_nulls()
            )
            if keys.len():
                listed = keys.to_list()
                if keys.is_duplicated().any() or not self.seen_keys.isdisjoint(listed):
                    raise NotFirstLoad("a phone number or e-mail address repeats")
                self.seen_keys.update(listed)
        rows = records.select(
            pl.lit(self.source).alias("source"),
            *(pl.col(c).fill_null("") for c in CUSTOMER_TEXT_FIELDS),
            *(pl.col(c) for c in CUSTOMER_NULLABLE_FIELDS),
            pl.col("country").fill_null(self.default_country),
            pl.col("birth_date"),
            pl.col("tags").fill_null("[]"),
            pl.col("attributes").fill_null("{}"),
            pl.lit(self.now).alias("created_at"),
            pl.lit(self.now).alias("updated_at"),
        )
        return rows, _NO_ERRORS


_NO_ERRORS = pl.DataFrame(
    schema={"row_no": pl.Int64, "column": pl.String, "value": pl.String, "code": pl.String}
)


def _customer_ids(source: str) -> _CustomerIndex:
    """external id -> id of the source's customers, read once (a million ids: ~40 MB)."""
    buffer = io.BytesIO()
    table = quote(Customer._meta.db_table)
    with (
        connection.connection.cursor() as cursor,
        cursor.copy(
            f"COPY (SELECT external_id, id FROM {table} WHERE source = %s AND external_id IS NOT NULL) "
            "TO STDOUT (FORMAT csv)",
            [source],
        ) as copy,
    ):
        for data in copy:
            buffer.write(data)
    schema = {"customer_external_id": pl.String, "customer_id": pl.Int64}
    if not buffer.tell():
        return _CustomerIndex(pl.DataFrame(schema=schema))
    buffer.seek(0)
    return _CustomerIndex(
        pl.read_csv(buffer, has_header=False, new_columns=list(schema), schema_overrides=schema)
    )


class _CustomerIndex:
    """Customer ids by external id, looked up per batch by binary search over sorted hashes.

    A hash join would build a hash table of all the source's customers for every batch (a
    million keys, ~0.1 s, a hundred times for ten million purchases); this sorts once. A found
    hash counts only if the external id matches too; the rare rows whose hash is shared with
    another id are looked up by a join.
    """

    _SEED = 0x5EED

    def __init__(self, customers: pl.DataFrame) -> None:
        ordered = customers.with_columns(
            self._hash(customers["customer_external_id"]).alias("hash")
        ).sort("hash")
        self.hashes = ordered["hash"]
        self.external_ids = ordered["customer_external_id"]
        self.ids = ordered["customer_id"]

    def _hash(self, keys: pl.Series) -> pl.Series:
        return keys.hash(self._SEED)

    def lookup(self, keys: pl.Series) -> pl.Series:
        """Customer id per key (null where the source has no such customer)."""
        if not len(self.hashes):
            return nulls(len(keys), "customer_id", pl.Int64)
        hashes = self._hash(keys)
        at = self.hashes.search_sorted(hashes, side="left").clip(upper_bound=len(self.hashes) - 1)
        found = (self.external_ids.gather(at) == keys).fill_null(False)
        ids = pl.select(pl.when(found).then(self.ids.gather(at))).to_series()
        shared = ~found & (self.hashes.gather(at) == hashes).fill_null(False)
        if shared.any():
            idx = shared.arg_true()
            customers = pl.DataFrame([self.external_ids, self.ids])
            part = pl.DataFrame({"customer_external_id": keys.gather(idx)}).join(
                customers, on="customer_external_id", how="left", maintain_order="left"
            )
            ids = ids.scatter(idx, part["customer_id"])
        return ids.alias("customer_id")


class _PurchaseRows:
    """Staged purchase records -> rows of the purchase table, customer ids looked up here."""

    def __init__(self, source: str, customers: _CustomerIndex, now: str) -> None:
        self.columns = (
            "source",
            "line_key",
            "created_at",
            "customer_id",
            "order_id",
            "purchased_at",
            "amount",
            "currency",
            "quantity",
            "product_code",
            "product_name",
            "category",
            "attributes",
        )
        self.source, self.customers, self.now = source, customers, now
        self.constants = {"source": source, "created_at": now}
        self.unknown = 0

    def __call__(self, records: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        if records["order_id"].null_count() or records["line_id"].null_count():
            raise NotFirstLoad("a purchase line has no order id or line id")
        joined = records.with_columns(self.customers.lookup(records["customer_external_id"]))
        unknown = joined.filter(pl.col("customer_id").is_null())
        errors = unknown.select(
            pl.col("row_no"),
            pl.lit("").alias("column"),
            pl.col("customer_external_id").fill_null("").alias("value"),
            pl.lit("unknown_customer").alias("code"),
        )
        self.unknown += errors.height
        known = joined.filter(pl.col("customer_id").is_not_null()) if errors.height else joined
        rows = known.select(
            pl.lit(self.source).alias("source"),
            (pl.col("order_id") + "#" + pl.col("line_id")).alias("line_key"),
            pl.lit(self.now).alias("created_at"),
            pl.col("customer_id"),
            pl.col("order_id"),
            pl.col("purchased_at") + "+00",  # staged times are UTC
            pl.col("amount"),
            pl.col("currency").fill_null("JPY"),
            pl.col("quantity").fill_null("1"),
            pl.col("product_code").fill_null(""),
            pl.col("product_name").fill_null(""),
            pl.col("category").fill_null(""),
            pl.col("attributes").fill_null("{}"),
        )
        if rows["line_key"].is_duplicated().any():
            raise NotFirstLoad("a purchase line repeats")
        return rows, errors


_Encoded = Sequence[bytes | memoryview]  # a COPY's data, in pieces sent one after the other
_Copy = tuple[str, pl.DataFrame, Callable[[pl.DataFrame], _Encoded]]  # COPY, rows, encoder


class _Writer:
    """Stores prepared batches on the job's connection from two more threads, so that
    PostgreSQL stores one batch while this process encodes the next for COPY and reads and
    normalises the one after (the database never waits for the encoding). At most ``depth``
    batches wait at each step, which bounds memory; the first error stops it."""

    def __init__(self, pg_connection: psycopg.Connection, depth: int = 2) -> None:
        self._connection = pg_connection
        self._frames: queue.Queue[list[_Copy] | None] = queue.Queue(depth)
        # (COPY, data, rows it must store) per COPY of a batch
        self._encoded: queue.Queue[list[tuple[str, _Encoded, int]] | None] = queue.Queue(depth)
        self._error: BaseException | None = None
        self._stopped = False
        self.seconds = 0.0
        self.encode_seconds = 0.0
        self._threads = [
            threading.Thread(target=self._encode, name="import-encode", daemon=True),
            threading.Thread(target=self._store, name="import-copy", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def put(self, copies: list[_Copy]) -> None:
        self._raise()
        self._frames.put(copies)

    def close(self) -> None:
        """Wait until everything is stored; raise what went wrong, if anything."""
        self.stop()
        self._raise()

    def stop(self) -> None:
        if not self._stopped:
            self._stopped = True
            self._frames.put(None)
            for thread in self._threads:
                thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _encode(self) -> None:
        try:
            while (copies := self._frames.get()) is not None:
                if self._error is not None:
                    continue  # drain, so that put() never blocks
                started = time.perf_counter()
                try:
                    encoded = [(sql, encode(frame), frame.height) for sql, frame, encode in copies]
                except BaseException as error:  # handed to the main thread
                    self._error = error
                    continue
                self.encode_seconds += time.perf_counter() - started
                self._encoded.put(encoded)
        finally:
            self._encoded.put(None)

    def _store(self) -> None:
        while (encoded := self._encoded.get()) is not None:
            if self._error is not None:
                continue  # drain
            started = time.perf_counter()
            try:
                for sql, data, rows in encoded:
                    if (stored := _copy(self._connection, sql, data)) != rows:
                        raise RuntimeError(f"COPY stored {stored} rows of {rows}: {sql}")
            except BaseException as error:  # handed to the main thread
                self._error = error
            self.seconds += time.perf_counter() - started


class _Ids:
    """Fresh ids from a table's sequence, taken through a connection of their own (the job's
    connection is busy streaming, and a sequence is not transactional) a range of at least
    ``RESERVE`` at a time: a round trip per batch would keep the normalising waiting. The ids
    of the last range a load does not use are a gap, as a rolled-back insert leaves one."""

    RESERVE = 100_000

    def __init__(self, sequence: str) -> None:
        self.sequence = sequence
        self._connection = connection.get_new_connection(connection.get_connection_params())
        self._connection.autocommit = True
        self._next, self._last = 1, 0  # the reserved range not handed out yet

    def number(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The frame with an ``id`` column first."""
        if self._last - self._next + 1 < frame.height:
            reserve = max(frame.height, self.RESERVE)
            with self._connection.cursor() as cursor:
                cursor.execute(
                    "SELECT setval(%s::regclass, nextval(%s::regclass) + %s - 1)",
                    [self.sequence, self.sequence, reserve],
                )
                (self._last,) = cursor.fetchone()
            self._next = self._last - reserve + 1
        first = self._next
        self._next += frame.height
        return frame.select(
            pl.int_range(first, first + frame.height, dtype=pl.Int64).alias("id"), pl.all()
        )

    def close(self) -> None:
        self._connection.close()


def copy_encoder(
    table: str, columns: Sequence[str]
) -> tuple[Callable[[pl.DataFrame], _Encoded], str]:
    """How to send rows of ``columns`` of ``table`` by COPY: (encoder, COPY format).

    COPY's binary format where every column's type has a binary encoding here (a bulk first
    load of customers, whose times are column defaults): PostgreSQL stores a million customers
    with ~0.45 core-seconds less than from COPY text, which it scans for delimiters and escapes
    and parses into numbers and dates. Otherwise (purchases, whose amounts and times are sent
    as normalised text; small loads), and where pgpq is not installed, COPY's text format,
    not CSV: PostgreSQL reads it about a fifth faster (no quoting, and the JSON columns'
    quotes are not doubled).
    """
    if ArrowToPostgresBinaryEncoder is not None:
        types = dict(
            merge._fetchall(
                "SELECT attname, atttypid::regtype::text FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
                "AND attname = ANY(%s)",
                [table, list(columns)],
            )
        )
        if all(types.get(column) in _BinaryEncoder.TYPES for column in columns):
            return _BinaryEncoder({column: types[column] for column in columns}), "binary"
    return _text, "text"


class _BinaryEncoder:
    """Frames in COPY's binary format, each cast to the column types first (a normalised birth
    date is ISO text, the column a date).

    No value needs escaping and a NULL is a length of -1, so every string arrives as it is; a
    string type is sent as text, which PostgreSQL checks for its encoding and length as it
    would a text COPY's; jsonb as its version byte and the JSON text. A batch is one COPY, so
    one pgpq encoder per batch (it holds back small batches' rows until it finishes).
    """

    # PostgreSQL type -> (polars type, pgpq output for strings)
    TYPES = {
        "bigint": (pl.Int64, None),
        "date": (pl.Date, None),
        "character varying": (pl.String, "text"),
        "jsonb": (pl.String, "jsonb"),
    }

    def __init__(self, types: dict[str, str]) -> None:
        self._types = types
        self._schema = pl.Schema({column: self.TYPES[t][0] for column, t in types.items()})
        self._encoders: dict | None = None  # column -> pgpq encoder builder, from the 1st batch

    def __call__(self, frame: pl.DataFrame) -> _Encoded:
        table = ArrowTable.from_arrow(
            frame.select(
                # Dates as normalised: ISO, years 1–9999 (polars casts no text to dates).
                pl.col(c).str.to_date("%Y-%m-%d", cache=False)
                if dtype == pl.Date and frame.schema[c] == pl.String
                else pl.col(c).cast(dtype)
                for c, dtype in self._schema.items()
            )
        )
        if self._encoders is None:
            self._encoders = self._column_encoders(table.schema)
        encoder = ArrowToPostgresBinaryEncoder.new_with_encoders(table.schema, self._encoders)
        return [
            encoder.write_header(),
            *map(encoder.write_batch, table.to_batches()),
            encoder.finish(),
        ]

    def _column_encoders(self, schema) -> dict:
        outputs = {"text": pg_types.Text(), "jsonb": pg_types.Jsonb()}
        encoders = {}
        for column, pg_type in self._types.items():
            field = schema.field(column)
            output = self.TYPES[pg_type][1]
            if output is None:
                encoders[column] = ArrowToPostgresBinaryEncoder.infer_encoder(field)
            elif ArrowType.is_string_view(field.type):  # how polars hands over strings
                builder = pg_encoders.StringViewEncoderBuilder
                encoders[column] = builder.new_with_output(field, outputs[output])
            else:  # inferred, a jsonb column would get no version byte
                raise TypeError(f"{column}: strings as {field.type}, not as string views")
        return encoders


def _csv(frame: pl.DataFrame) -> _Encoded:
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, null_value="")
    return [buffer.getbuffer()]


def _text(frame: pl.DataFrame) -> _Encoded:
    """``frame`` in COPY's text format (tab separated, ``\\N`` for NULL, backslash escapes).

    Normalised values hold no tab, line break or carriage return (normalisation turns every run
    of whitespace into one space, and JSON escapes them), so only a backslash needs escaping —
    and values hardly ever hold one. The rows are written as they are, and if the result holds
    no more backslashes than NULLs (one each) that is it; otherwise the columns that hold one
    are escaped and the rows written again.
    """
    buffer = _tab_separated(frame)
    if buffer.getvalue().count(b"\\") == sum(frame.null_count().row(0)):
        return [buffer.getbuffer()]
    strings = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    found = frame.select(pl.col(name).str.contains("\\", literal=True).any() for name in strings)
    escape = [name for name, hit in zip(strings, found.row(0), strict=True) if hit]
    escaped = frame.with_columns(pl.col(escape).str.replace_all("\\", "\\\\", literal=True))
    return [_tab_separated(escaped).getbuffer()]


def _tab_separated(frame: pl.DataFrame) -> io.BytesIO:
    buffer = io.BytesIO()
    frame.write_csv(
        buffer,
        include_header=False,
        separator="\t",
        quote_style="never",
        null_value="\\N",
        # A batch in one piece: polars' default of 1,024 rows per piece costs more CPU for
        # splitting and joining than it saves (0.3 against 0.2 core-seconds a million rows).
        batch_size=1 << 16,
    )
    return buffer


def _copy(pg_connection: psycopg.Connection, sql: str, data: _Encoded) -> int:
    """Run the COPY with ``data``; the number of rows it stored."""
    with pg_connection.cursor() as cursor:
        with cursor.copy(sql) as copy:
            for piece in data:
                with memoryview(piece) as view:
                    for start in range(0, len(view), COPY_CHUNK):
                        copy.write(view[start : start + COPY_CHUNK])
        return cursor.rowcount
