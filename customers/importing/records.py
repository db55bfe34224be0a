"""Turn one batch of raw file rows into normalised records and error rows, column-wise.

A batch comes from ``readers.TabularFile.batches()``: a ``__row`` column with the row number the
user sees, one string column per header and ``__extra`` for cells past the last header.
The result is a frame of records with the staging columns of the import kind (see ``STAGE_COLUMNS``)
holding only rows without errors, and a frame of errors (row, column, value, code).
A row with any error is rejected as a whole, so every row is either stored or reported.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from customers.importing import normalize
from customers.importing.columns import ATTRIBUTE_PREFIX, IGNORE, fields_for
from customers.models import ImportKind

ROW = "__row"
EXTRA = "__extra"
EXTRA_ATTRIBUTE = "_extra_cells"

# Staging columns per kind, in COPY order. Values are canonical text (or NULL).
STAGE_COLUMNS: dict[str, tuple[str, ...]] = {
    ImportKind.CUSTOMERS: (
        "row_no",
        "external_id",
        "name",
        "name_kana",
        "email",
        "phone",
        "mobile_phone",
        "birth_date",
        "gender",
        "postal_code",
        "prefecture",
        "address",
        "country",
        "time_zone",
        "tags",
        "attributes",
    ),
    ImportKind.PURCHASES: (
        "row_no",
        "customer_external_id",
        "order_id",
        "line_id",
        "base_key",
        "purchased_at",
        "amount",
        "currency",
        "quantity",
        "product_code",
        "product_name",
        "category",
        "attributes",
    ),
}


# Row-level problems that are not about one cell's format.
ROW_ERROR_MESSAGES = {
    "no_identifier": _("The row has no customer id, phone number or e-mail address."),
    "missing_customer_id": _("The customer id is empty."),
    "missing_purchased_at": _("The purchase date is empty."),
    "missing_amount": _("Neither amount nor unit price is given."),
    "unknown_customer": _("No customer with this id in this source; import the customer first."),
    "amount_too_large": _("The amount has more than 12 digits before the decimal point."),
}


@dataclass
class BatchResult:
    records: pl.DataFrame
    errors: pl.DataFrame
    rows: int


@dataclass(frozen=True)
class _Column:
    header: str
    field: str


class _ColumnMemo:
    """The normalised value and error of every distinct cell of one column seen so far in a
    file, so that later batches normalise only the cells new to them.

    Dates, prefectures, genders, tags … repeat across the whole file, not only within a batch:
    without this each batch normalises its own copy of the same few thousand values.
    Whether a column repeats enough is judged on its first batch; one that turns out too
    varied (``LIMIT`` distinct cells) is no longer memoised. A column judged too varied is
    normalised row by row without judging each batch again. Normalisation is a function of
    the cell alone, so all this affects speed only, never results.
    """

    LIMIT = 250_000

    def __init__(self) -> None:
        self.active: bool | None = None  # undecided until the first batch
        self.table: pl.DataFrame | None = None  # k (cell), v (value), e (error code), hit
        self._plain = False  # whether every cell in the table has a value and no error
        self._values: pl.DataFrame | None = None  # k, v of the table

    def __call__(
        self,
        raw: pl.Series,
        normalise: Callable[[pl.Series], normalize.Normalized],
        *,
        cheap: bool = False,
    ) -> normalize.Normalized:
        """``cheap``: the normaliser costs less per cell than looking the cell up would
        (plain text), so the column is normalised row by row."""
        if cheap:
            self.active = False
        if self.active is None:
            small = len(raw) <= 20_000  # counted exactly; otherwise estimated from a sample
            distinct = raw.n_unique() if small else normalize._estimated_distinct(raw)
            self.active = distinct * 2 <= len(raw)
        if not self.active:
            with normalize.mostly_distinct():
                return normalise(raw)
        if self.table is None:
            self._learn(raw.drop_nulls().unique(), normalise)
        assert self.table is not None
        cells = pl.DataFrame({"k": raw})
        if self._plain:
            # Every cell seen so far has a value and no error (the usual case): a null value
            # is a cell not seen yet, and only the values need looking up.
            values = cells.join(self._values, on="k", how="left", maintain_order="left")["v"]
            errors = normalize.nulls(len(raw))
            missed = (values.is_null() & raw.is_not_null()).arg_true()
        else:
            out = cells.join(self.table, on="k", how="left", maintain_order="left")
            values, errors = out["v"], out["e"]
            missed = (out["hit"].is_null() & raw.is_not_null()).arg_true()
        if len(missed):
            cells = raw.gather(missed)
            new = self._learn(cells.unique(), normalise)
            found = pl.DataFrame({"k": cells}).join(new, on="k", how="left", maintain_order="left")
            values = values.cast(found["v"].dtype).scatter(missed, found["v"])
            errors = errors.cast(pl.String).scatter(missed, found["e"].cast(pl.String))
        if self.table.height > self.LIMIT:
            self.active, self.table = False, None
        return normalize.Normalized(values=values.alias(raw.name), errors=errors.alias(raw.name))

    def _learn(
        self, cells: pl.Series, normalise: Callable[[pl.Series], normalize.Normalized]
    ) -> pl.DataFrame:
        part = normalise(cells)
        new = pl.DataFrame(
            {"k": cells, "v": part.values, "e": part.errors.cast(pl.String)}
        ).with_columns(hit=pl.lit(True))
        if self.table is None:
            self.table = new
        else:
            self.table = pl.concat([self.table, new], how="vertical_relaxed")
        table = self.table
        self._plain = table["v"].null_count() == 0 and table["e"].null_count() == table.height
        self._values = table.select("k", "v")
        return new


# Kinds whose normalisation (a shape check, for most cells) is cheaper than a lookup.
_CHEAP_KINDS = frozenset({"text", "name", "kana"})


class ColumnMemos(dict[str, _ColumnMemo]):
    """One ``_ColumnMemo`` per header: hand the same instance to every batch of one file."""

    def __missing__(self, header: str) -> _ColumnMemo:
        memo = self[header] = _ColumnMemo()
        return memo


def _normalize_column(
    spec_kind: str, raw: pl.Series, *, region: str, max_length: int | None
) -> normalize.Normalized:
    if spec_kind == "phone":
        return normalize.normalize_phone(raw, region=region)
    if spec_kind == "postal_code":
        return normalize.normalize_postal_code(raw, region=region)
    if spec_kind == "datetime":
        return normalize.normalize_datetime(raw, time_zone=settings.TIME_ZONE)
    if spec_kind == "text":
        return normalize.normalize_text(raw, max_length=max_length)
    if spec_kind == "tags":
        # Stored as JSON text: a column's memo then holds each distinct cell's JSON, so no row
        # is encoded twice (and text, unlike a list, can be spread back over the rows).
        tags = normalize.normalize_tags(raw)
        return normalize.Normalized(values=_tags_json(tags.values), errors=tags.errors)
    by_kind: dict[str, Callable[[pl.Series], normalize.Normalized]] = {
        "email": normalize.normalize_email,
        "date": normalize.normalize_date,
        "amount": normalize.normalize_amount,
        "integer": normalize.normalize_integer,
        "name": normalize.normalize_name,
        "kana": normalize.normalize_kana,
        "prefecture": normalize.normalize_prefecture,
        "gender": normalize.normalize_gender,
        "time_zone": normalize.normalize_time_zone,
        "country": _normalize_country,
        "currency": _normalize_currency,
    }
    result = by_kind[spec_kind](raw)
    if max_length and spec_kind in ("name", "kana", "prefecture"):
        too_long = result.values.str.len_chars() > max_length
        result = normalize.Normalized(
            values=pl.select(pl.when(too_long).then(None).otherwise(result.values)).to_series(),
            errors=pl.select(
                pl.when(too_long).then(pl.lit("too_long")).otherwise(result.errors)
            ).to_series(),
        )
    return result


def _tags_json(tags: pl.Series) -> pl.Series:
    """Tag lists as JSON arrays; an empty or null list stays null, so it never erases the
    tags a customer has."""
    encoded = pl.select(pl.struct(tags.alias("t")).struct.json_encode()).to_series()
    # '{"t":[…]}' -> '[…]'
    return pl.select(
        pl.when(tags.list.len() > 0).then(encoded.str.slice(5, encoded.str.len_chars() - 6))
    ).to_series()


def _normalize_country(raw: pl.Series) -> normalize.Normalized:
    text = normalize.normalize_name(raw).values.str.to_uppercase()
    text = text.replace(
        {"日本": "JP", "JAPAN": "JP", "JPN": "JP", "USA": "US", "UNITED STATES": "US"}
    )
    ok = text.is_null() | text.str.contains(r"^[A-Z]{2}$")
    return normalize.Normalized(
        values=pl.select(pl.when(ok).then(text)).to_series(),
        errors=pl.select(pl.when(~ok).then(pl.lit("invalid_country"))).to_series(),
    )


def _normalize_currency(raw: pl.Series) -> normalize.Normalized:
    text = (
        normalize.normalize_name(raw).values.str.to_uppercase().replace({"円": "JPY", "¥": "JPY"})
    )
    ok = text.is_null() | text.str.contains(r"^[A-Z]{3}$")
    return normalize.Normalized(
        values=pl.select(pl.when(ok).then(text)).to_series(),
        errors=pl.select(pl.when(~ok).then(pl.lit("invalid_currency"))).to_series(),
    )


def _json_members(values: pl.Series, key: str) -> pl.Series:
    """``"key":"value"`` per row, null where the value is.

    A column none of whose values holds a character JSON escapes (``"``, ``\\``, controls) —
    nearly every column — is written as it is, between quotes; the others go through polars'
    JSON encoder, whose escaping the plain writing matches exactly.
    """
    if values.null_count() == len(values):
        return values
    if values.str.contains(_JSON_ESCAPED).any():
        encoded = pl.struct(pl.lit(values).alias(key)).struct.json_encode()
        # '{"key":"value"}' -> '"key":"value"'; json_encode escapes key and value for us.
        piece = pl.when(pl.lit(values).is_not_null()).then(
            encoded.str.slice(1, encoded.str.len_chars() - 2)
        )
    else:
        piece = pl.lit(_json_member_start(key)) + pl.lit(values) + pl.lit('"')
    return pl.select(piece).to_series().alias(values.name)


def _json_from_members(members: list[pl.Series], height: int) -> pl.Series:
    """One JSON object per row from ``_json_members`` columns, leaving out null members; null
    where a row has none."""
    present = [member for member in members if member.null_count() < len(member)]
    if not present:
        return normalize.nulls(height, _ATTRIBUTES)
    if len(present) == 1:  # null where the one member is (concat_str of a null is null)
        body = pl.lit(present[0])
        return (
            pl.select(pl.concat_str(pl.lit("{"), body, pl.lit("}"))).to_series().alias(_ATTRIBUTES)
        )
    body = pl.concat_str([pl.lit(member) for member in present], separator=",", ignore_nulls=True)
    return (
        pl.select(
            pl.when(body.str.len_bytes() > 0).then(pl.concat_str(pl.lit("{"), body, pl.lit("}")))
        )
        .to_series()
        .alias(_ATTRIBUTES)
    )


def _attribute_member(key: str, raw: pl.Series) -> normalize.Normalized:
    """An attribute column's cells as normalised text, ready as members of the JSON object."""
    text = normalize.normalize_text(raw).values
    return normalize.Normalized(values=_json_members(text, key), errors=normalize.nulls(len(raw)))


_ATTRIBUTES = "attributes"
_JSON_ESCAPED = r'[\x00-\x1f"\\]'


@functools.cache
def _json_member_start(key: str) -> str:
    """``"key":"`` as polars' JSON encoder writes it (the key escaped as it escapes it)."""
    encoded = pl.select(pl.struct(pl.lit("", dtype=pl.String).alias(key)).struct.json_encode())
    return encoded.item()[1:-2]  # '{"key":""}' -> '"key":"'


def _mapped_columns(kind: str, mapping: dict[str, str]) -> tuple[list[_Column], dict[str, str]]:
    specs = fields_for(kind)
    fields = [_Column(header, target) for header, target in mapping.items() if target in specs]
    attributes = {
        target[len(ATTRIBUTE_PREFIX) :].strip(): header
        for header, target in mapping.items()
        if target != IGNORE and target.startswith(ATTRIBUTE_PREFIX)
    }
    return fields, attributes


def normalize_batch(
    kind: str, batch: pl.DataFrame, mapping: dict[str, str], *, memos: ColumnMemos | None = None
) -> BatchResult:
    """Normalise one raw batch into staging records and error rows.

    ``memos``: pass the same ``ColumnMemos`` with every batch of a file (faster, same result).
    """
    memos = ColumnMemos() if memos is None else memos
    specs = fields_for(kind)
    fields, attribute_columns = _mapped_columns(kind, mapping)
    rows = batch.height
    region_default = settings.DEFAULT_PHONE_REGION

    values: dict[str, pl.Series] = {}
    error_frames: list[pl.DataFrame] = []

    def record_errors(header: str, raw: pl.Series, errors: pl.Series) -> None:
        count = len(errors) - errors.null_count()  # a count polars keeps: no pass over the rows
        if not count:
            return
        mask = errors.is_not_null()
        error_frames.append(
            pl.DataFrame(
                {
                    "row_no": batch[ROW].filter(mask),
                    "column": pl.Series([header] * count, dtype=pl.String),
                    "value": raw.filter(mask),
                    "code": errors.filter(mask),
                }
            )
        )

    # Country first: phone numbers and postal codes are read in the customer's own country.
    regions: pl.Series | None = None
    country_column = next((c for c in fields if c.field == "country"), None)
    if country_column is not None:
        result = _normalize_country(batch[country_column.header])
        record_errors(country_column.header, batch[country_column.header], result.errors)
        values["country"] = result.values
        regions = result.values.fill_null(region_default)

    for column in fields:
        if column.field == "country":
            continue
        raw = batch[column.header]
        spec = specs[column.field]
        if regions is not None and spec.kind in ("phone", "postal_code"):
            result = _normalize_by_region(spec.kind, raw, regions)
        else:
            memo = memos[column.header]
            result = memo(
                raw,
                functools.partial(
                    _normalize_column,
                    spec.kind,
                    region=region_default,
                    max_length=spec.max_length,
                ),
                cheap=spec.kind in _CHEAP_KINDS
                # Judged once, on the first batch, like the memo's own choice.
                or (
                    spec.kind == "date"
                    and memo.active is None
                    and normalize.mostly_plain_dates(raw)
                ),
            )
        record_errors(column.header, raw, result.errors)
        values[column.field] = result.values.alias(column.field)

    frame = pl.DataFrame([batch[ROW], *(series.alias(name) for name, series in values.items())])

    # Attribute columns are memoised as JSON members: one with few distinct values (a rank, a
    # channel) then costs a lookup per row instead of normalising and encoding every cell.
    members = [
        memos[header](batch[header], functools.partial(_attribute_member, key)).values
        for key, header in attribute_columns.items()
    ]
    if EXTRA in batch.columns:
        members.append(_json_members(batch[EXTRA], EXTRA_ATTRIBUTE))
    attributes = _json_from_members(members, batch.height)

    if kind == ImportKind.CUSTOMERS:
        records, row_errors = _customer_records(frame, attributes)
    else:
        records, row_errors = _purchase_records(frame, attributes)
    if row_errors.height:
        # Row-level problems are reported only for rows whose cells were all fine: a row whose
        # phone number was rejected must not also be told it has no phone number.
        cell_error_rows = (
            pl.concat([f["row_no"] for f in error_frames])
            if error_frames
            else pl.Series([], dtype=pl.Int64)
        )
        row_errors = row_errors.filter(~pl.col("row_no").is_in(cell_error_rows.implode()))
        error_frames.append(row_errors)

    errors = (
        pl.concat(error_frames, how="vertical_relaxed")
        if error_frames
        else pl.DataFrame(
            schema={"row_no": pl.Int64, "column": pl.String, "value": pl.String, "code": pl.String}
        )
    )
    if errors.height:
        bad_rows = errors["row_no"].unique()
        records = records.filter(~pl.col("row_no").is_in(bad_rows.implode()))
    return BatchResult(records=records, errors=errors, rows=rows)


def _normalize_by_region(
    spec_kind: str, raw: pl.Series, regions: pl.Series
) -> normalize.Normalized:
    """Normalise phone numbers / postal codes per row country (one vectorised call per country)."""
    out_values = normalize.nulls(raw.len(), raw.name)
    out_errors = normalize.nulls(raw.len(), "errors")
    for region in regions.unique().to_list():
        mask = regions == region
        if spec_kind == "phone":
            part = normalize.normalize_phone(raw.filter(mask), region=region)
        else:
            part = normalize.normalize_postal_code(raw.filter(mask), region=region)
        out_values = out_values.scatter(mask.arg_true(), part.values)
        out_errors = out_errors.scatter(mask.arg_true(), part.errors)
    return normalize.Normalized(values=out_values, errors=out_errors)


def _join_text(*series: pl.Series | None) -> pl.Series | None:
    present = [s for s in series if s is not None]
    if not present:
        return None
    if len(present) == 1:  # normalised text is never empty (null instead): nothing to join
        return present[0]
    joined = pl.select(pl.concat_str(present, separator=" ", ignore_nulls=True)).to_series()
    return pl.select(pl.when(joined.str.len_chars() > 0).then(joined)).to_series()


def _row_error(frame: pl.DataFrame, mask: pl.Series, code: str) -> pl.DataFrame:
    count = int(mask.sum())
    return pl.DataFrame(
        {
            "row_no": frame[ROW].filter(mask),
            "column": pl.Series([""] * count, dtype=pl.String),
            "value": pl.Series([""] * count, dtype=pl.String),
            "code": pl.Series([code] * count, dtype=pl.String),
        }
    )


def _get(frame: pl.DataFrame, name: str, default: pl.Series | None = None) -> pl.Series | None:
    return frame[name] if name in frame.columns else default


def _customer_records(
    frame: pl.DataFrame, attributes: pl.Series
) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = frame.height
    null = normalize.nulls(n)
    name = _get(frame, "name")
    if name is None:
        name = _join_text(_get(frame, "last_name"), _get(frame, "first_name"))
    kana = _get(frame, "name_kana")
    if kana is None:
        kana = _join_text(_get(frame, "last_name_kana"), _get(frame, "first_name_kana"))
    address = _join_text(_get(frame, "address"), _get(frame, "address2"))
    prefecture = _get(frame, "prefecture")
    if address is not None:
        if prefecture is None:
            prefecture = normalize.prefecture_from_address(address)
        else:
            # Only rows without a prefecture of their own need it read from the address (in
            # most files: none).
            missing = (prefecture.is_null() & address.is_not_null()).arg_true()
            if len(missing):
                prefecture = prefecture.clone()  # scatter works in place
                prefecture.scatter(
                    missing, normalize.prefecture_from_address(address.gather(missing))
                )

    records = pl.DataFrame(
        {
            "row_no": frame[ROW],
            "external_id": _get(frame, "external_id", null),
            "name": name if name is not None else null,
            "name_kana": kana if kana is not None else null,
            "email": _get(frame, "email", null),
            "phone": _get(frame, "phone", null),
            "mobile_phone": _get(frame, "mobile_phone")
            if "mobile_phone" in frame.columns
            else null,
            "birth_date": _get(frame, "birth_date", null),
            "gender": _get(frame, "gender", null),
            "postal_code": _get(frame, "postal_code", null),
            "prefecture": prefecture if prefecture is not None else null,
            "address": address if address is not None else null,
            "country": _get(frame, "country", null),
            "time_zone": _get(frame, "time_zone", null),
            "tags": _get(frame, "tags", null),
            "attributes": attributes,
        }
    )
    identified = (
        records["external_id"].is_not_null()
        | records["email"].is_not_null()
        | records["phone"].is_not_null()
        | records["mobile_phone"].is_not_null()
    )
    return records, _row_error(frame, ~identified, "no_identifier")


def _purchase_records(
    frame: pl.DataFrame, attributes: pl.Series
) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = frame.height
    null = normalize.nulls(n)
    quantity = _get(frame, "quantity")
    amount = _amount(frame, quantity)
    customer = _get(frame, "customer_external_id")
    purchased_at = _get(frame, "purchased_at")
    order_id = _get(frame, "order_id")
    product_code = _get(frame, "product_code")
    product_name = _get(frame, "product_name")
    # Lines without an order number get a natural key; the merge adds an occurrence number
    # so two identical lines in one file stay two purchases.
    if order_id is not None and not order_id.null_count():
        base_key = order_id  # every line has one: no natural key to build
    else:
        natural_key = pl.select(
            pl.concat_str(
                [
                    pl.lit("nk:"),
                    pl.lit(customer).fill_null(""),
                    pl.lit("|"),
                    pl.lit(purchased_at).fill_null(""),
                    pl.lit("|"),
                    pl.lit(product_code if product_code is not None else null).fill_null(""),
                    pl.lit("|"),
                    pl.lit(product_name if product_name is not None else null)
                    .fill_null("")
                    .str.slice(0, 60),
                    pl.lit("|"),
                    pl.lit(quantity.cast(pl.String) if quantity is not None else null).fill_null(
                        ""
                    ),
                    pl.lit("|"),
                    pl.lit(amount if amount is not None else null).fill_null(""),
                ]
            )
        ).to_series()
        base_key = natural_key if order_id is None else order_id.fill_null(natural_key)
    records = pl.DataFrame(
        {
            "row_no": frame[ROW],
            "customer_external_id": customer if customer is not None else null,
            "order_id": order_id if order_id is not None else null,
            "line_id": _get(frame, "line_id", null),
            "base_key": base_key,
            "purchased_at": purchased_at if purchased_at is not None else null,
            "amount": amount if amount is not None else null,
            "currency": _get(frame, "currency", null),
            "quantity": quantity.cast(pl.String) if quantity is not None else null,
            "product_code": product_code if product_code is not None else null,
            "product_name": product_name if product_name is not None else null,
            "category": _get(frame, "category", null),
            "attributes": attributes,
        }
    )
    problems = [
        _row_error(frame, records["customer_external_id"].is_null(), "missing_customer_id"),
        _row_error(frame, records["purchased_at"].is_null(), "missing_purchased_at"),
        _row_error(frame, records["amount"].is_null(), "missing_amount"),
        _row_error(
            frame,
            records["amount"]
            .str.replace("-", "")
            .str.split(".")
            .list.first()
            .str.len_chars()
            .fill_null(0)
            > 12,
            "amount_too_large",
        ),
    ]
    return records, pl.concat(problems)


def _amount(frame: pl.DataFrame, quantity: pl.Series | None) -> pl.Series | None:
    """The amount column, or unit price × quantity when the file has no amount."""
    amount = _get(frame, "amount")
    unit_price = _get(frame, "unit_price")
    if amount is None and unit_price is not None:
        n = frame.height
        qty = quantity.fill_null(1) if quantity is not None else pl.Series([1] * n, dtype=pl.Int64)
        amount = pl.select(
            (unit_price.cast(pl.Decimal(18, 2)) * qty.cast(pl.Decimal(18, 0)))
            .cast(pl.String)
            .str.replace(r"\.00$", "")
            .str.replace(r"(\.\d)0$", "$1")
        ).to_series()
    return amount


def known_error_message(code: str) -> str | None:
    message = normalize.ERROR_MESSAGES.get(code) or ROW_ERROR_MESSAGES.get(code)
    return str(message) if message else None


def error_message(code: str) -> str:
    return known_error_message(code) or gettext("Invalid value (%(code)s)") % {"code": code}


def preview_rows(records: pl.DataFrame, limit: int = 20) -> list[dict]:
    rows = records.head(limit).to_dicts()
    for row in rows:
        for key in ("tags", "attributes"):
            if row.get(key):
                row[key] = json.loads(row[key])
    return rows
