"""A first load sends normalised rows by COPY, in its text format or (a bulk load of customers)
its binary format. The text format escapes only backslashes: that is right only while no
normalised value holds a tab, line break or carriage return. These tests normalise cells full of
them (and of backslashes and NULL look-alikes) through every field of both kinds of import,
encode the rows as the first load does and read them back the way PostgreSQL reads COPY."""

import datetime
import re
import struct

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customers.importing import direct
from customers.importing.columns import ATTRIBUTE_PREFIX, fields_for
from customers.importing.records import EXTRA, ROW, normalize_batch
from customers.models import ImportKind

_NASTY = "\t\n\r\\\x0b\x0c\u2028\u3000 N.\"',;|、・/0123456789+-@aあア年月日𠮷"
_CELLS = st.one_of(
    st.none(),
    st.sampled_from(["\\N", "\\.", "a\\tb", "C:\\new\\table", "x\ty", "1\n2", "\r", "\\"]),
    st.text(alphabet=st.sampled_from(_NASTY), max_size=10),
)
_SIMPLE_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]{1,2})|(.))", re.DOTALL)


def _read_field(field: str) -> str | None:
    """One field as PostgreSQL's COPY text format reads it."""
    if field == "\\N":
        return None

    def unescape(match: re.Match) -> str:
        octal, hexadecimal, char = match.groups()
        if octal:
            return chr(int(octal, 8))
        if hexadecimal:
            return chr(int(hexadecimal, 16))
        return _SIMPLE_ESCAPES.get(char, char)

    return _ESCAPE.sub(unescape, field)


def _read_copy_text(data: bytes, width: int) -> list[tuple]:
    text = data.decode()
    assert text.endswith("\n") or not text
    rows = []
    for line in text.split("\n")[:-1]:
        assert "\r" not in line
        fields = line.split("\t")
        assert len(fields) == width, line
        rows.append(tuple(_read_field(f) for f in fields))
    return rows


# Cells each kind of field accepts; the free-text kinds get the nasty cells.
_VALID = {
    "email": ["a@example.com", "x.y+z@example.co.jp"],
    "phone": ["090-1234-5678", "03-1234-5678", None],
    "date": ["2024-01-05", "平成2年3月4日"],
    "datetime": ["2024-01-05 10:00", "2024/01/05"],
    "gender": ["男", "female", None],
    "postal_code": ["100-0001", None],
    "prefecture": ["東京都", None],
    "country": ["JP", None],
    "time_zone": ["Asia/Tokyo", None],
    "integer": ["2", None],
    "amount": ["¥1,200", "300"],
    "currency": ["JPY", None],
}


def _batch(kind: str, cells: list[list[str | None]]) -> tuple[pl.DataFrame, dict[str, str]]:
    """A batch with every field of ``kind`` mapped (and an attribute column): valid values in
    the fields that check their values, ``cells`` in the free-text ones."""
    specs = fields_for(kind)
    mapping = {f"h{i}": name for i, name in enumerate(specs)}
    mapping["extra attribute"] = f"{ATTRIBUTE_PREFIX}note"
    columns: dict[str, pl.Series] = {ROW: pl.Series(range(2, len(cells) + 2), dtype=pl.Int64)}
    for i, (header, target) in enumerate(mapping.items()):
        kind_of = specs[target].kind if target in specs else "text"
        if target in ("external_id", "customer_external_id", "order_id", "line_id"):
            values = [f"{target}{r}\\{row[0] or ''}" for r, row in enumerate(cells)]
        elif kind_of in _VALID:
            choices = _VALID[kind_of]
            values = [choices[(r + i) % len(choices)] for r in range(len(cells))]
        else:
            values = [row[i % len(row)] for row in cells]
        columns[header] = pl.Series(values, dtype=pl.String)
    columns[EXTRA] = pl.Series([row[-1] for row in cells], dtype=pl.String)
    return pl.DataFrame(columns), mapping


def _round_trip(frame: pl.DataFrame) -> None:
    as_text = frame.select(
        pl.col(name) if dtype == pl.String else pl.col(name).cast(pl.String)
        for name, dtype in frame.schema.items()
    )
    assert _read_copy_text(b"".join(direct._text(frame)), frame.width) == as_text.rows()


_ROWS = st.lists(st.lists(_CELLS, min_size=3, max_size=8), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(cells=_ROWS)
def test_customer_rows_come_back_from_copy_text_as_they_were(cells):
    batch, mapping = _batch(ImportKind.CUSTOMERS, cells)
    result = normalize_batch(ImportKind.CUSTOMERS, batch, mapping)
    rows, _errors = direct._CustomerRows("src", ["external_id"], "JP", "2026-01-01")(result.records)
    assert rows.height  # the free-text cells never reject a row
    _round_trip(rows)


@settings(max_examples=150, deadline=None)
@given(cells=_ROWS)
def test_purchase_rows_come_back_from_copy_text_as_they_were(cells):
    batch, mapping = _batch(ImportKind.PURCHASES, cells)
    records = normalize_batch(ImportKind.PURCHASES, batch, mapping).records
    assert records.height  # the free-text cells never reject a row
    ids = pl.DataFrame(
        {"customer_external_id": records["customer_external_id"].drop_nulls().unique()}
    ).with_row_index("customer_id", offset=1)
    customers = direct._CustomerIndex(ids.with_columns(pl.col("customer_id").cast(pl.Int64)))
    rows, _errors = direct._PurchaseRows("src", customers, "2026-01-01")(records)
    assert rows.height == records.height
    _round_trip(rows)


def test_backslashes_and_null_look_alikes_are_escaped_and_nulls_are_not():
    frame = pl.DataFrame(
        {"a": ["\\N", None, "C:\\new", "plain"], "b": [None, "\\", None, "x"], "n": [1, None, 3, 4]}
    )
    data = b"".join(direct._text(frame))
    assert data == b"\\\\N\t\\N\t1\n\\N\t\\\\\t\\N\nC:\\\\new\t\\N\t3\nplain\tx\t4\n"
    assert _read_copy_text(data, 3) == [
        ("\\N", None, "1"),
        (None, "\\", None),
        ("C:\\new", None, "3"),
        ("plain", "x", "4"),
    ]


# The customer table's columns as a bulk first load COPYs them (PostgreSQL types).
_CUSTOMER_TEXT = ("name", "name_kana", "gender", "postal_code", "prefecture", "address")
_CUSTOMER_TYPES = {
    "id": "bigint",
    **dict.fromkeys(_CUSTOMER_TEXT, "character varying"),
    **dict.fromkeys(("external_id", "email", "phone", "mobile_phone"), "character varying"),
    **dict.fromkeys(("country", "time_zone"), "character varying"),
    "birth_date": "date",
    "tags": "jsonb",
    "attributes": "jsonb",
}
_EPOCH = datetime.date(2000, 1, 1)


def _binary_value(pg_type: str, raw: bytes):
    if pg_type in ("bigint", "integer", "smallint"):
        return int.from_bytes(raw, "big", signed=True)
    if pg_type == "date":
        return _EPOCH + datetime.timedelta(days=struct.unpack("!i", raw)[0])
    if pg_type == "jsonb":
        assert raw[:1] == b"\x01"  # jsonb's binary format version
        raw = raw[1:]
    return raw.decode()


def _read_copy_binary(data: bytes, types: list[str]) -> list[tuple]:
    """Rows as PostgreSQL reads COPY's binary format (signature, flags, header extension,
    tuples of length-prefixed fields, a trailer of -1), each value by its column's type."""
    assert data[:11] == b"PGCOPY\n\xff\r\n\x00"
    flags, extension = struct.unpack_from("!ii", data, 11)
    assert flags == 0
    at, rows = 19 + extension, []
    while True:
        (fields,) = struct.unpack_from("!h", data, at)
        at += 2
        if fields == -1:
            assert at == len(data), "data after the trailer"
            return rows
        assert fields == len(types)
        row = []
        for pg_type in types:
            (size,) = struct.unpack_from("!i", data, at)
            at += 4
            row.append(None if size == -1 else _binary_value(pg_type, data[at : at + size]))
            at += max(size, 0)
        rows.append(tuple(row))


def _customer_copy_rows(cells) -> pl.DataFrame:
    """Customer rows as a bulk first load COPYs them: an id first, then every column."""
    batch, mapping = _batch(ImportKind.CUSTOMERS, cells)
    result = normalize_batch(ImportKind.CUSTOMERS, batch, mapping)
    rows, _errors = direct._CustomerRows("src", ["external_id"], "JP", "2026-01-01")(result.records)
    ids = pl.int_range(1, rows.height + 1, dtype=pl.Int64).alias("id")
    return rows.select(ids, *(column for column in _CUSTOMER_TYPES if column != "id"))


def _binary_round_trip(rows: pl.DataFrame) -> None:
    data = b"".join(direct._BinaryEncoder(_CUSTOMER_TYPES)(rows))
    expected = [
        tuple(
            datetime.date.fromisoformat(value) if column == "birth_date" and value else value
            for column, value in zip(rows.columns, row, strict=True)
        )
        for row in rows.rows()
    ]
    assert _read_copy_binary(data, list(_CUSTOMER_TYPES.values())) == expected


@pytest.mark.skipif(direct.ArrowToPostgresBinaryEncoder is None, reason="pgpq is not installed")
@settings(max_examples=150, deadline=None)
@given(cells=_ROWS)
def test_customer_rows_come_back_from_copy_binary_as_they_were(cells):
    rows = _customer_copy_rows(cells)
    assert rows.height  # the free-text cells never reject a row
    _binary_round_trip(rows)


@pytest.mark.skipif(direct.ArrowToPostgresBinaryEncoder is None, reason="pgpq is not installed")
def test_copy_binary_sends_every_row_of_every_piece_of_a_batch():
    # pgpq holds back the rows of small record batches until it finishes; a frame of several
    # pieces is several record batches.
    one = _customer_copy_rows([["山田", "\\N", None], ["a\tb", "\u3000", "x"]])
    pieces = pl.concat([one, one.with_columns(pl.col("id") + 2)], rechunk=False)
    assert pieces.n_chunks() == 2
    _binary_round_trip(pieces)
    _binary_round_trip(one.head(1))
    assert (
        _read_copy_binary(
            b"".join(direct._BinaryEncoder(_CUSTOMER_TYPES)(one.clear())),
            list(_CUSTOMER_TYPES.values()),
        )
        == []
    )
