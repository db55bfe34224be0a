"""Vectorised normalisation of imported column values with polars.

Every ``normalize_*`` function takes a ``pl.String`` series (null, ``""`` and whitespace-only
cells all count as empty) and returns :class:`Normalized`: the canonical value per row (null where
the cell is empty *or* invalid) and an error code per row (null where the cell is fine or empty;
codes are the keys of :data:`ERROR_MESSAGES`). Both series keep the input's name and length.

The common case is handled by polars expressions only. Per-row Python runs solely over the
*unique* values the vectorised path could not settle (unusual formats, other countries' phone
numbers, odd e-mail addresses, time zone names), so a column of a million typical values costs
about as much as a few regex passes over it.

Decisions on questions the import specification left open:

* Phone numbers: an extension or a note in the cell (``03-1234-5678 内線12``, ``… ext. 12``,
  ``… x12``, ``… #12``, ``090-1234-5678（本人）``, ``TEL: …``) is dropped and the main number
  kept, because E.164 has no room for an extension and the main number still reaches the
  customer's switchboard. Two numbers in one cell are an error (we cannot tell which one to
  call). ``81 90-1234-5678`` (country code without ``+``) is accepted as ``+819012345678``:
  phonenumbers reads a leading country code that way when the rest is a valid national number
  and the whole is not, and validity is defined as phonenumbers' ``is_valid_number``. For the
  same reason any bare national number is accepted, not only 9 or 10 digits that lost their
  leading zero in Excel (for Japan those are the only lengths that can be valid anyway).
* Amounts: a comma is always a thousands separator, never a decimal one, so ``12,99`` and
  ``1.234,56`` are ``invalid_amount`` (silently reading them as 1299 or 1.234 would be worse).
  A trailing minus (``1,200-``, used both for "negative" and for "exactly" on Japanese
  receipts) is ambiguous and therefore an error too, as is a double negative ``(-1,200)``.
  Trailing zeros after the point do not count towards the two-decimal limit
  (``1.500`` -> ``1.5``).
* Dates: only year-month-day order is accepted (``1/5/2024`` and two-digit years are errors).
  明治 dates are accepted from 明治6年1月1日 (1873-01-01), when Japan adopted the Gregorian
  calendar; earlier ones were lunar dates. A decimal that reads like a year and a month
  (``2024.1``, ``1999.12``) is refused rather than read as an Excel serial in 1905. Excel
  serial 60 (the non-existent 1900-02-29) is an error.
* Date-times: fractions of a second are truncated; a local time that falls in a DST gap of the
  time zone is an error, an ambiguous one (DST fold) takes the earlier instant.
* Free text keeps character widths as typed; names, kana, codes, numbers, dates, e-mail
  addresses and phone numbers are NFKC-folded first (full-width digits, ＠, half-width kana).
* Kana never rejects a reading for containing other scripts (foreign names), gender blanks
  "unknown" answers, prefectures keep unknown regions, tags never error.
* Tags are also split on line breaks (Excel cells with one tag per line).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import re
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

import phonenumbers
import polars as pl
from django.utils.translation import gettext_lazy as _
from email_validator import EmailNotValidError, validate_email

__all__ = [
    "ERROR_MESSAGES",
    "Normalized",
    "normalize_amount",
    "normalize_date",
    "normalize_datetime",
    "normalize_email",
    "normalize_gender",
    "normalize_integer",
    "normalize_kana",
    "normalize_name",
    "normalize_phone",
    "normalize_postal_code",
    "normalize_prefecture",
    "normalize_tags",
    "normalize_text",
    "normalize_time_zone",
    "prefecture_from_address",
]


@dataclass(frozen=True)
class Normalized:
    """Result of a normalisation: canonical values and error codes, row by row."""

    values: pl.Series
    errors: pl.Series


ERROR_MESSAGES = {
    "invalid_phone": _("Not a valid phone number."),
    "invalid_email": _("Not a valid e-mail address."),
    "invalid_date": _("Not a valid date."),
    "invalid_datetime": _("Not a valid date and time."),
    "invalid_amount": _("Not a valid amount."),
    "too_many_decimals": _("Amounts may have at most two decimal places."),
    "invalid_integer": _("Not a whole number."),
    "too_long": _("The text is too long."),
    "invalid_postal_code": _("Not a valid postal code (seven digits, e.g. 123-4567)."),
    "invalid_gender": _("Not a recognised gender value."),
    "invalid_time_zone": _("Not a known time zone name such as Asia/Tokyo."),
}

# --------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------

# Characters NFKC leaves alone and that never combine with their neighbour (see _NFKC_UNSTABLE),
# neither whitespace nor invisible: printable ASCII, kanji, kana, common Japanese punctuation
# (the ranges apart from hiragana, then with it).
_PLAIN_NOT_HIRAGANA = (
    r"\x21-\x7E\x{A5}\x{25B2}\x{25B3}\x{3001}-\x{3003}\x{3005}-\x{3007}\x{3012}"
    r"\x{30A1}-\x{30FE}\x{4E00}-\x{9FFF}"
)
_PLAIN_CHAR = rf"[{_PLAIN_NOT_HIRAGANA}\x{{3041}}-\x{{3096}}\x{{309D}}\x{{309E}}]"
# Cells of such characters with single inner spaces need no cleanup at all: nothing invisible,
# no whitespace to collapse or trim, nothing NFKC would change. One regex pass settles them
# (most cells of most columns, Japanese text included); only the rest goes through the
# several passes of the slower path.
_PLAIN_CELL = rf"^{_PLAIN_CHAR}+(?: {_PLAIN_CHAR}+)*$"
# Zero-width characters, the BOM Excel leaves in a CSV's first cell, and C0 controls other than
# whitespace: invisible, but they would make equal values compare unequal.
_INVISIBLE = r"[\x00-\x08\x0E-\x1F\x7F\x{200B}-\x{200D}\x{2060}\x{FEFF}]"
# Stand-alone (spacing) voiced marks: NFKC would turn them into a space plus a combining mark;
# as combining marks they compose with the preceding kana instead (カ゛ -> ガ).
_SPACING_VOICED_MARKS = {"\u309b": "\u3099", "\u309c": "\u309a"}
# Characters outside these ranges may change under NFKC. Inside them (ASCII, kanji, kana, common
# Japanese punctuation and signs) every character is NFKC-stable and none combines with its
# neighbour, so the many Japanese cells made of nothing else can skip NFKC, which is slow.
_NFKC_UNSTABLE = (
    r"[^\x00-\x7F\x{A5}\x{25B2}\x{25B3}\x{3001}-\x{3003}\x{3005}-\x{3007}\x{3012}"
    r"\x{3041}-\x{3096}\x{309D}\x{309E}\x{30A1}-\x{30FE}\x{4E00}-\x{9FFF}]"
)


def _as_text(raw: pl.Series) -> pl.Series:
    return raw if raw.dtype == pl.String else raw.cast(pl.String)


def _apply_where(s: pl.Series, mask: pl.Series, fn: Callable[[pl.Series], pl.Series]) -> pl.Series:
    """``fn`` applied only to the rows where ``mask`` holds (it must keep the dtype)."""
    idx = mask.fill_null(False).arg_true()
    if not len(idx):
        return s
    if len(idx) == len(s):
        return fn(s)
    out = s.clone()  # scatter works in place; never touch the caller's series
    out.scatter(idx, fn(s.gather(idx)))
    return out


def _replace_many_if_any(s: pl.Series, mapping: dict[str, str]) -> pl.Series:
    if s.str.contains_any(list(mapping)).any():
        return s.str.replace_many(mapping)
    return s


def _replace_if_any(s: pl.Series, pattern: str, replacement: str) -> pl.Series:
    # Checking is several times cheaper than replacing, and usually there is nothing to do.
    return s.str.replace_all(pattern, replacement) if s.str.contains(pattern).any() else s


def _prepare(raw: pl.Series, *, nfkc: bool = True, keep_lines: bool = False) -> pl.Series:
    """Text with invisible characters removed, NFKC applied (optionally), whitespace runs
    (including U+3000) collapsed to one space and trimmed; empty cells become null.

    ``keep_lines`` keeps line breaks (for lists written one item per line).
    """
    s = _as_text(raw)
    s = _apply_where(
        s, ~s.str.contains(_PLAIN_CELL), lambda sub: _cleanup(sub, nfkc=nfkc, keep_lines=keep_lines)
    )
    return _empty_to_null(s)


def _cleanup(s: pl.Series, *, nfkc: bool, keep_lines: bool) -> pl.Series:
    """The work of ``_prepare`` on every cell (the plain ones come out as they went in)."""

    def collapse(sub: pl.Series) -> pl.Series:
        if not sub.str.contains(r"[^\S ]| {2}").any():
            return sub
        if keep_lines:
            return sub.str.replace_all(r"[^\S\n]+", " ").str.replace_all(r" ?\n ?", "\n")
        return sub.str.replace_all(r"\s+", " ")

    s = collapse(_replace_if_any(s, _INVISIBLE, ""))
    if nfkc:
        if s.str.contains("[\u309b\u309c]").any():
            s = s.str.replace_many(_SPACING_VOICED_MARKS)
        s = _apply_where(s, s.str.contains(_NFKC_UNSTABLE), lambda sub: sub.str.normalize("NFKC"))
        s = collapse(s)  # NFKC turns a few characters into spaces (e.g. ´ -> " ́")
    return s.str.strip_chars()


def _empty_to_null(s: pl.Series) -> pl.Series:
    # Finding out that no cell is empty (the usual case) is cheaper than rebuilding the column.
    if not (s.str.len_bytes() == 0).any():
        return s
    return pl.select(pl.when(pl.lit(s) != "").then(pl.lit(s))).to_series().alias(s.name)


def _errors(cleaned: pl.Series, values: pl.Series, code: str) -> pl.Series:
    return (
        pl.select(
            pl.when(pl.lit(cleaned).is_not_null() & pl.lit(values).is_null())
            .then(pl.lit(code))
            .otherwise(pl.lit(None, dtype=pl.String))
        )
        .to_series()
        .alias(cleaned.name)
    )


def _result(cleaned: pl.Series, values: pl.Series, code: str) -> Normalized:
    values = values.alias(cleaned.name)
    return Normalized(values=values, errors=_errors(cleaned, values, code))


_MOSTLY_DISTINCT: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "mostly_distinct", default=False
)


@contextlib.contextmanager
def mostly_distinct() -> Iterator[None]:
    """Normalise row by row without estimating whether de-duplicating would pay (the caller
    knows the column's cells are mostly distinct: ids, phone numbers, addresses …)."""
    token = _MOSTLY_DISTINCT.set(True)
    try:
        yield
    finally:
        _MOSTLY_DISTINCT.reset(token)


def _by_distinct(raw: pl.Series, rows: Callable[[pl.Series], Normalized]) -> Normalized:
    """Normalise each distinct cell once and spread the results back over the rows.

    Dates, amounts and codes repeat heavily in real files (a million purchases have a few
    thousand dates), which turns most of the work into a hash join. Columns whose values are
    mostly distinct are normalised row by row instead: there the de-duplication and the join
    would only add cost. The choice affects speed only, never results.
    """
    s = _as_text(raw)
    if _MOSTLY_DISTINCT.get() or _estimated_distinct(s) * 2 > len(s):
        return rows(s)
    distinct = s.drop_nulls().unique()
    part = rows(distinct)
    table = pl.DataFrame({"k": distinct, "v": part.values, "e": part.errors})
    out = pl.DataFrame({"k": s}).join(table, on="k", how="left", maintain_order="left")
    return Normalized(values=out["v"].alias(s.name), errors=out["e"].alias(s.name))


def _estimated_distinct(s: pl.Series, sample_size: int = 20_000) -> float:
    """Chao1 estimate of the number of distinct values, from an evenly spread sample."""
    if len(s) <= sample_size:
        return float(len(s))
    counts = s.gather_every(len(s) // sample_size).value_counts()["count"]
    singletons, doubletons = int((counts == 1).sum()), int((counts == 2).sum())
    return len(counts) + singletons * (singletons - 1) / (2 * (doubletons + 1))


def _with(s: pl.Series, **exprs: pl.Expr) -> pl.DataFrame:
    """Evaluate expressions over ``pl.col("s")`` in one polars query."""
    return pl.DataFrame({"s": s}).lazy().with_columns(**exprs).collect()


def _fill_from_unique(
    values: pl.Series, cleaned: pl.Series, mask: pl.Series, fn: Callable[[str], object]
) -> pl.Series:
    """Set ``values`` where ``mask`` holds to ``fn(cleaned)``, calling ``fn`` once per unique
    value. This is the only place where per-value Python runs."""

    def resolve(sub: pl.Series) -> pl.Series:
        mapping = {value: fn(value) for value in sub.unique().drop_nulls().to_list()}
        return sub.replace_strict(mapping, default=None, return_dtype=values.dtype)

    idx = mask.fill_null(False).arg_true()
    if not len(idx):
        return values
    out = values.clone()
    out.scatter(idx, resolve(cleaned.gather(idx)))
    return out


def _settled_or(
    s: pl.Series, settled: pl.Series, general: Callable[[pl.Series], Normalized]
) -> Normalized:
    """``settled`` where a shortcut settled a cell (valid, no error), ``general`` for the other
    non-empty cells (only those are passed to it)."""
    values = settled.cast(pl.String).alias(s.name)
    errors = _null_strings(s)
    rest = (values.is_null() & s.is_not_null()).arg_true()
    if len(rest):
        part = general(s.gather(rest))
        values.scatter(rest, part.values)
        errors.scatter(rest, part.errors)
    return Normalized(values=values, errors=errors)


def _null_strings(s: pl.Series) -> pl.Series:
    return nulls(len(s), s.name)


def nulls(length: int, name: str = "", dtype: type[pl.DataType] = pl.String) -> pl.Series:
    """A Series of ``length`` nulls (one null repeated: a fraction of the cost of ``pl.repeat``
    or of a list)."""
    return pl.Series(name, [None], dtype=dtype).new_from_index(0, length)


# --------------------------------------------------------------------------------------------
# Phone numbers
# --------------------------------------------------------------------------------------------

_PHONE_TYPES = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "voip",
    "personal_number",
    "uan",
    "voicemail",
    "pager",
)
# Separators people (and NFKC output) use inside phone numbers, including the katakana long
# vowel mark "ー" that Japanese IMEs produce when typing a dash.
_PHONE_SEPARATORS = r"[\s\-\x{2010}-\x{2015}\x{2212}\x{30FC}().]"


@dataclass(frozen=True)
class _PhoneRules:
    """Region metadata compiled into Rust-regex-compatible patterns.

    National numbers are matched padded on the left with ``x`` to ``_KEY_WIDTH`` characters,
    so that one regex checks both the number-type pattern and that type's possible lengths:
    a length is a count of ``x`` (Rust regexes have no look-ahead).
    """

    country_code: str
    idd: str | None  # international dialling prefix, anchored
    npfp: str | None  # national prefix for parsing, wrapped in an outer group, anchored
    transform_group: int  # group whose participation means "transform, not strip"; 0: none
    local_only_lengths: tuple[int, ...]
    general: str
    general_plain: str  # the general pattern without the length check
    types: str
    own_leading: str | None  # for regions sharing a country code (NANP etc.)
    other_leading: str | None
    siblings: tuple[str, ...]  # other regions with the same country code


# Wider than the longest national number phonenumbers accepts (17 digits): every possible
# number gets at least one x, and a longer one none, so it matches no pattern.
_KEY_WIDTH = 18


def _length_keyed(desc: phonenumbers.PhoneNumberDesc | None) -> str | None:
    pattern = desc.national_number_pattern if desc is not None else None
    if not pattern:
        return None
    # No lengths listed means "as the general description", which is checked separately.
    padding = "|".join(f"x{{{_KEY_WIDTH - n}}}" for n in desc.possible_length if n < _KEY_WIDTH)
    return f"(?:{padding or 'x+'})(?:{pattern})"


def _rust_regex_ok(pattern: str) -> bool:
    try:
        pl.Series(["0"]).str.contains(pattern)
    except pl.exceptions.PolarsError:
        return False
    return True


@functools.cache
def _phone_rules(region: str) -> _PhoneRules | None:
    """Build the fast-path rules for ``region``; None means "always use phonenumbers"."""
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region, None)
    if meta is None:
        return None
    general = _length_keyed(meta.general_desc)
    types = [k for t in _PHONE_TYPES if (k := _length_keyed(getattr(meta, t, None)))]
    if general is None or not types:
        return None
    npfp = meta.national_prefix_for_parsing or None
    transform_group = 0
    if npfp and meta.national_prefix_transform_rule:
        groups = re.compile(npfp).groups
        # phonenumbers strips the prefix unless the last group of the pattern took part in the
        # match, in which case it rewrites the number: the fast path only does the former.
        # (+1 because the pattern is wrapped in one more group below.)
        transform_group = groups + 1 if groups else -1
    own_leading = None
    others = []
    siblings = tuple(
        other
        for other in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(meta.country_code, ())
        if other != region
    )
    for other in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(meta.country_code, ()):
        other_meta = phonenumbers.PhoneMetadata.metadata_for_region(other, None)
        if other_meta is None or not other_meta.leading_digits:
            continue
        if other == region:
            own_leading = f"^(?:{other_meta.leading_digits})"
        else:
            others.append(other_meta.leading_digits)
    rules = _PhoneRules(
        country_code=str(meta.country_code),
        idd=f"^(?:{meta.international_prefix})" if meta.international_prefix else None,
        npfp=f"^({npfp})" if npfp else None,
        transform_group=transform_group,
        local_only_lengths=tuple(meta.general_desc.possible_length_local_only),
        general=f"^{general}$",
        general_plain=f"^(?:{meta.general_desc.national_number_pattern})$",
        types="^(?:" + "|".join(types) + ")$",
        own_leading=own_leading,
        other_leading="^(?:" + "|".join(others) + ")" if others else None,
        siblings=siblings,
    )
    patterns = (rules.idd, rules.npfp, rules.general, rules.general_plain, rules.types)
    patterns += (own_leading, rules.other_leading)
    if not all(_rust_regex_ok(p) for p in patterns if p is not None):
        return None
    return rules


def _phone_valid(national: pl.Expr, rules: _PhoneRules, *, leading: bool = True) -> pl.Expr:
    """Vectorised phonenumbers.is_valid_number for a national significant number.

    ``leading=False`` skips the checks of which region a shared country code attributes the
    number to: "valid for this region's patterns" only.
    """
    key = national.str.pad_start(_KEY_WIDTH, "x")
    valid = key.str.contains(rules.general) & key.str.contains(rules.types)
    if not leading:
        return valid.fill_null(False)
    if rules.own_leading:
        valid &= national.str.contains(rules.own_leading)
    if rules.other_leading:
        # phonenumbers would attribute the number to the other region and validate it there.
        valid &= ~national.str.contains(rules.other_leading)
    return valid.fill_null(False)


_EXTENSION = re.compile(
    r"\s*[(\[]?\s*(?:内線|内|ext(?:ension)?\.?|x|#)\s*[:.]?\s*\d{1,6}\s*[)\]]?\s*$", re.IGNORECASE
)
_BRACKETED_NOTE = re.compile(r"[(\[【<][^\d()\[\]【】<>]*[)\]】>]")
_LEADING_LABEL = re.compile(r"^[^\d+(]+")
_TRAILING_NOTE = re.compile(r"[^\d)]+$")


def _phone_fallback(text: str, region: str) -> str | None:
    """phonenumbers over one unusual value; notes and extensions are dropped first if needed."""
    stripped = _EXTENSION.sub("", text)
    stripped = _BRACKETED_NOTE.sub("", stripped)
    stripped = _TRAILING_NOTE.sub("", _LEADING_LABEL.sub("", stripped))
    for candidate in dict.fromkeys((text, stripped)):
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None


def normalize_phone(raw: pl.Series, *, region: str = "JP") -> Normalized:
    """Phone numbers to E.164 (``+819012345678``); valid means phonenumbers' is_valid_number.

    Fast path (vectorised): after removing separators, numbers of the form "+<region's country
    code><digits>", "<national prefix><digits>" and bare national digits (which also covers
    Excel cells that lost the leading zero, ``9012345678``) are checked against the region's
    metadata compiled into Rust regexes. Everything else (other countries, extensions, notes,
    letters) goes through phonenumbers, once per unique value. Extensions and notes are
    dropped (E.164 cannot carry them); two numbers in one cell are an error. Error code
    ``invalid_phone``.
    """
    region = region.upper()
    if not _domestic_shortcut(region):
        return _by_distinct(raw, lambda distinct: _phone_rows(distinct, region))
    # Valid domestic numbers in the usual spelling are settled by the shortcut; the rest (other
    # spellings, invalid numbers, empty cells) by the general path.
    s = _as_text(raw)
    rules = _phone_rules(region)
    assert rules is not None  # _domestic_shortcut checked it
    cell, digits = pl.col("s"), pl.col("s").str.replace_all("-", "", literal=True)
    national = pl.col("national")
    international_prefix = _JP_PARSING[2]  # as _domestic_shortcut checked
    settled = (
        pl.DataFrame({"s": s})
        .lazy()
        .select(
            national=pl.when(
                cell.str.contains(_JP_DOMESTIC) & ~digits.str.starts_with(international_prefix)
            ).then(digits.str.slice(1))
        )
        .select(
            pl.when(_phone_valid(national, rules)).then(pl.lit("+" + rules.country_code) + national)
        )
        .collect()
        .to_series()
    )
    return _settled_or(
        s, settled, lambda rest: _by_distinct(rest, lambda d: _phone_rows(d, region))
    )


# Japanese domestic numbers as nearly every file spells them: the national prefix 0, then
# digits in hyphenated groups (090-1234-5678, 03-1234-5678, 0312345678). Under Japan's
# metadata (_JP_PARSING, checked below) such a number minus its 0 is exactly the national number
# phonenumbers reads — a 0 followed by 1-9 is never the start of the prefixes 000… and 003768…,
# and the international prefix 010 is excluded — so its validity is the vectorised check alone.
_JP_DOMESTIC = r"^0[1-9][0-9]*(?:-[0-9]+)*$"
_JP_PARSING = ("0", r"(000[2569]\d{4,6})$|(?:(?:003768)0?)|0", "010")


@functools.cache
def _domestic_shortcut(region: str) -> bool:
    """Whether ``_JP_DOMESTIC`` cells may skip the general path (Japan, with the metadata the
    reasoning above relies on; a phonenumbers update that changes it turns the shortcut off)."""
    if region != "JP" or _phone_rules(region) is None:
        return False
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region, None)
    parsing = (meta.national_prefix, meta.national_prefix_for_parsing, meta.international_prefix)
    return (
        parsing == _JP_PARSING
        and not meta.general_desc.possible_length_local_only
        and phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(meta.country_code) == (region,)
    )


def _phone_rows(raw: pl.Series, region: str) -> Normalized:
    cleaned = _prepare(raw)
    rules = _phone_rules(region)
    if rules is None:
        values = _fill_from_unique(
            _null_strings(cleaned),
            cleaned,
            cleaned.is_not_null(),
            lambda v: _phone_fallback(v, region),
        )
        return _result(cleaned, values, "invalid_phone")

    frame = _phone_fast_path(cleaned, rules)
    valid = frame["valid"]
    values = pl.select(pl.when(valid).then(pl.lit("+" + rules.country_code) + frame["national"]))
    values = values.to_series().cast(pl.String)

    # Second stage, only over the rows the fast path rejected. phonenumbers may still find a
    # valid reading for some: it keeps a national prefix when the rest is not viable, and a
    # country code shared by several regions (NANP) is valid if any of them accepts the
    # number. Rows that no region of the country code could accept, read either way, are
    # definitely invalid; the others go to phonenumbers.
    failed = (~valid & (frame["definite"] | frame["stripped"])).fill_null(False)
    undecided = (cleaned.is_not_null() & ~valid & ~failed).fill_null(False)
    failed_idx = failed.arg_true()
    if len(failed_idx):
        retry = frame.select("national", "body", "stripped")[failed_idx]
        undecided.scatter(failed_idx, _phone_could_be_valid(retry, region, rules))
    values = _fill_from_unique(values, cleaned, undecided, lambda v: _phone_fallback(v, region))
    return _result(cleaned, values, "invalid_phone")


def _phone_could_be_valid(retry: pl.DataFrame, region: str, rules: _PhoneRules) -> pl.Series:
    """For rows the fast path rejected: could any region sharing the country code accept the
    national number, or (where a prefix was stripped) the number with its prefix?"""
    maybe = pl.Series([False] * len(retry))
    for sibling in (region, *rules.siblings):
        sibling_rules = _phone_rules(sibling)
        if sibling_rules is None:
            return pl.Series([True] * len(retry))
        candidates = [(retry["body"], retry["stripped"])]
        if sibling != region:  # the region's own reading has already failed
            candidates.append((retry["national"], retry["national"].is_not_null()))
        for numbers, applies in candidates:
            # A cheap regex pass first: usually hardly any row survives it.
            idx = (applies & numbers.str.contains(sibling_rules.general_plain)).fill_null(False)
            idx = idx.arg_true()
            if len(idx):
                check = pl.DataFrame({"n": numbers.gather(idx)})
                valid = check.select(_phone_valid(pl.col("n"), sibling_rules, leading=False))
                maybe.scatter(idx, maybe.gather(idx) | valid.to_series())
    return maybe


def _phone_digits(cleaned: pl.Series) -> pl.Series:
    """The cell without separators if that leaves ``+`` and digits only, else null."""
    shape = r"^\+?[0-9]+$"
    # Removing plain hyphens first settles most cells; only the rest needs the regex.
    digits = cleaned.str.replace_all("-", "", literal=True)
    digits = _apply_where(
        digits,
        ~digits.str.contains(shape),
        lambda sub: sub.str.replace_all(_PHONE_SEPARATORS, ""),
    )
    return pl.select(pl.when(pl.lit(digits).str.contains(shape)).then(pl.lit(digits))).to_series()


def _phone_fast_path(cleaned: pl.Series, rules: _PhoneRules) -> pl.DataFrame:
    """Columns ``national`` (national significant number as phonenumbers would read it, where
    that reading is certain), ``valid``, ``definite`` (a failed match means invalid) and
    ``stripped``/``body`` (a national prefix was removed from ``body``)."""
    cc = rules.country_code
    d, body, false = pl.col("d"), pl.col("body"), pl.lit(False)
    frame = pl.DataFrame({"d": _phone_digits(cleaned)}).lazy()
    frame = frame.with_columns(plus=d.str.starts_with("+"), body=d.str.strip_prefix("+"))
    plus = pl.col("plus")

    # "+<cc><rest>": rest is the national number unless it starts with a national prefix,
    # which phonenumbers would try to strip again (rare: "+81 (0)3 …" goes to the fallback).
    intl = plus & body.str.starts_with(cc)
    intl_rest = body.str.slice(len(cc))
    intl_plain = intl & ~intl_rest.str.contains(rules.npfp) if rules.npfp else intl
    # Without "+": an international dialling prefix or a leading country code make
    # phonenumbers reinterpret the number; leave those to it.
    domestic = ~plus & ~body.str.starts_with(cc)
    if rules.idd:
        domestic &= ~body.str.contains(rules.idd)
    frame = frame.with_columns(intl_plain=intl_plain, intl_rest=intl_rest, domestic=domestic)

    if rules.npfp:
        groups = body.str.extract_groups(rules.npfp)
        frame = frame.with_columns(
            prefix=groups.struct.field("1"),
            transformed=groups.struct.field(str(rules.transform_group)).is_not_null()
            if rules.transform_group > 0
            else pl.lit(rules.transform_group < 0),
        )
        prefix = pl.col("prefix")
        has_prefix = prefix.is_not_null()
        rest = body.str.slice(prefix.str.len_chars())
        strips = has_prefix & ~pl.col("transformed")
        if rules.local_only_lengths:
            # phonenumbers keeps the prefix when the rest has a local-only length.
            strips &= ~rest.str.len_chars().is_in(rules.local_only_lengths)
    else:
        has_prefix = strips = false
        rest = body

    domestic = pl.col("domestic")
    frame = frame.with_columns(
        national=pl.when(pl.col("intl_plain"))
        .then(pl.col("intl_rest"))
        .when(domestic & ~has_prefix)
        .then(body)
        .when(domestic & strips)
        .then(rest),
        # Readings above that are exactly phonenumbers' own: a failed match is "invalid".
        definite=(pl.col("intl_plain") | (domestic & ~has_prefix)).fill_null(False),
        stripped=(domestic & strips).fill_null(False),
    )
    return frame.with_columns(valid=_phone_valid(pl.col("national"), rules)).collect()


# --------------------------------------------------------------------------------------------
# E-mail addresses
# --------------------------------------------------------------------------------------------

# Deliberately narrower than RFC 5322: what it accepts, email_validator accepts unchanged
# (apart from the domain's case). Everything else is left to email_validator.
_EMAIL_FAST = (
    r"^[A-Za-z0-9_+\-]+(?:\.[A-Za-z0-9_+\-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
# email_validator rejects special-use domains; IDNA labels ("xn--") it shows decoded.
_EMAIL_SPECIAL = r"--|\.(?:arpa|invalid|local|localhost|onion|test)$"


def _email_fallback(text: str) -> str | None:
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        return None


def normalize_email(raw: pl.Series) -> Normalized:
    """E-mail addresses: trimmed, NFKC (full-width ＠), domain lower-cased, local part as is.

    Plainly valid ASCII addresses are settled by one regex; the rest (IDN, quoted local parts,
    special-use domains, over-long parts, junk) by email_validator without DNS checks, once per
    unique value, taking its normalised form. Error code ``invalid_email``.
    """
    # Addresses already in their canonical form (what the fast regex accepts, with a lower-case
    # domain, within the length limits, no special-use domain) are settled as they are.
    s = _as_text(raw)
    cell = pl.col("s")
    settled = _with(
        s,
        v=pl.when(
            cell.str.contains(_EMAIL_CANONICAL)
            & (cell.str.len_bytes() <= 254)
            & (cell.str.find("@", literal=True) <= 64)
            & ~cell.str.contains(_EMAIL_SPECIAL)
        ).then(cell),
    )["v"]
    return _settled_or(s, settled, lambda rest: _by_distinct(rest, _email_rows))


# _EMAIL_FAST with the domain in lower case only.
_EMAIL_CANONICAL = (
    r"^[A-Za-z0-9_+\-]+(?:\.[A-Za-z0-9_+\-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$"
)


def _email_rows(raw: pl.Series) -> Normalized:
    cleaned = _prepare(raw)
    s = pl.col("s")
    at = s.str.find("@", literal=True)
    domain = s.str.slice(at + 1).str.to_lowercase()
    frame = (
        pl.DataFrame({"s": cleaned})
        .lazy()
        .with_columns(
            fast=s.str.contains(_EMAIL_FAST) & (s.str.len_bytes() <= 254) & (at <= 64),
            domain=domain,
        )
        .with_columns(fast=(pl.col("fast") & ~pl.col("domain").str.contains(_EMAIL_SPECIAL)))
        .select(
            fast=pl.col("fast").fill_null(False),
            v=pl.when(pl.col("fast")).then(
                pl.concat_str(s.str.slice(0, at), pl.lit("@"), pl.col("domain"))
            ),
        )
        .collect()
    )
    values = _fill_from_unique(frame["v"], cleaned, ~frame["fast"], _email_fallback)
    return _result(cleaned, values, "invalid_email")


# --------------------------------------------------------------------------------------------
# Dates and date-times
# --------------------------------------------------------------------------------------------

# era letter: (year 1 of the era, first day, last day). 明治 starts at the Gregorian switch.
_ERAS = {
    "M": (1868, date(1873, 1, 1), date(1912, 7, 29)),
    "T": (1912, date(1912, 7, 30), date(1926, 12, 24)),
    "S": (1926, date(1926, 12, 25), date(1989, 1, 7)),
    "H": (1989, date(1989, 1, 8), date(2019, 4, 30)),
    "R": (2019, date(2019, 5, 1), date(9999, 12, 31)),
}
_ERA_NAMES = {
    **dict.fromkeys(("明治", "明", "M", "m"), "M"),
    **dict.fromkeys(("大正", "大", "T", "t"), "T"),
    **dict.fromkeys(("昭和", "昭", "S", "s"), "S"),
    **dict.fromkeys(("平成", "平", "H", "h"), "H"),
    **dict.fromkeys(("令和", "令", "R", "r"), "R"),
}
# After the date: nothing, or 日, or a time separated by T, whitespace or 日.
_TIME = (
    r"(?:(?:(?:\s*日)?(?:\s*T\s*|\s+)|\s*日\s*)(?:"
    r"(?P<hh>[0-9]{1,2}):(?P<mi>[0-9]{2})(?::(?P<ss>[0-9]{2})(?:[.,][0-9]+)?)?"
    r"|(?P<khh>[0-9]{1,2})\s*時\s*(?:(?P<kmi>[0-9]{1,2})\s*分\s*(?:(?P<kss>[0-9]{1,2})\s*秒)?)?"
    r")|\s*日)?"
    r"\s*(?P<tz>[Zz]|UTC|GMT|(?P<sign>[+\-])(?P<oh>[0-9]{2}):?(?P<om>[0-9]{2})?)?"
)
_WHEN_RE = (
    r"^(?:(?:"
    r"(?:(?P<era>令和|平成|昭和|大正|明治|[令平昭大明RHSTMrhstm])\s*(?P<ey>元|[0-9]{1,2})"
    r"|(?P<y>[0-9]{4}))"
    r"\s*[年./\-]\s*(?P<m>[0-9]{1,2})\s*[月./\-]\s*(?P<d>[0-9]{1,2})"
    r"|(?P<cy>[0-9]{4})(?P<cm>[0-9]{2})(?P<cd>[0-9]{2})"
    r")" + _TIME + r"|(?P<serial>[0-9]{5}|[0-9]{1,7}\.[0-9]+))$"
)
# The shapes nearly every file uses, as a smaller regex that is much cheaper to capture with;
# cells it does not match get _WHEN_RE.
_WHEN_COMMON = (
    r"^(?P<y>[0-9]{4})[\-/.](?P<m>[0-9]{1,2})[\-/.](?P<d>[0-9]{1,2})"
    r"(?:[ T](?P<hh>[0-9]{1,2}):(?P<mi>[0-9]{2})(?::(?P<ss>[0-9]{2})(?:\.[0-9]+)?)?)?"
    r"(?P<tz>Z|(?P<sign>[+\-])(?P<oh>[0-9]{2}):?(?P<om>[0-9]{2}))?$"
)
_WHEN_FIELDS = tuple(re.compile(_WHEN_RE).groupindex)
# "2024.1" looks like a decimal Excel serial but is far more likely a year and a month.
_YEAR_MONTH_LOOKALIKE = r"^(?:1[89]|2[01])[0-9]{2}\.(?:0?[1-9]|1[0-2])$"
_EXCEL_MAX_SERIAL = 2958465  # 9999-12-31


def _when_parts(cleaned: pl.Series) -> pl.DataFrame:
    """The named groups of _WHEN_RE as string columns (null where absent or unmatched)."""
    common = cleaned.str.extract_groups(_WHEN_COMMON).struct.unnest()
    parts = {
        name: common[name]
        if name in common.columns
        else pl.repeat(None, len(cleaned), dtype=pl.String, eager=True)
        for name in _WHEN_FIELDS
    }
    idx = (common["y"].is_null() & cleaned.is_not_null()).arg_true()
    if len(idx):
        rare = cleaned.gather(idx).str.extract_groups(_WHEN_RE).struct.unnest()
        for name in _WHEN_FIELDS:
            column = parts[name].clone()
            column.scatter(idx, rare[name])
            parts[name] = column
    return pl.DataFrame(parts)


def _when_frame(cleaned: pl.Series) -> pl.DataFrame:
    """Parse dates/date-times into columns ``date`` (valid calendar date, null if the cell is
    invalid), ``local`` (naive wall-clock datetime) and ``offset`` (seconds east of UTC
    written in the cell, null if none)."""

    def num(name: str) -> pl.Expr:
        return pl.col(name).cast(pl.Int32, strict=False)

    era = pl.col("era_code")
    year, month, day = pl.col("year"), pl.col("month"), pl.col("day")
    hour, minute, second = pl.col("hour"), pl.col("minute"), pl.col("second")
    off_h, off_m = num("oh"), num("om").fill_null(0)
    serial = pl.col("serial_value")
    # Excel serials: day 1 is 1900-01-01 and Excel counts a 1900-02-29 that never was (day 60).
    epoch = pl.when(serial >= 61).then(pl.datetime(1899, 12, 30))
    epoch = epoch.otherwise(pl.datetime(1899, 12, 31))
    return (
        _when_parts(cleaned)
        .lazy()
        .with_columns(
            era_code=pl.col("era").replace_strict(_ERA_NAMES, default=None, return_dtype=pl.String),
            era_year=pl.when(pl.col("ey") == "元").then(1).otherwise(num("ey")),
            month=pl.coalesce(num("m"), num("cm")),
            day=pl.coalesce(num("d"), num("cd")),
            hour=pl.coalesce(num("hh"), num("khh"), 0),
            minute=pl.coalesce(num("mi"), num("kmi"), 0),
            second=pl.coalesce(num("ss"), num("kss"), 0),
            offset=pl.when(pl.col("tz").is_null())
            .then(None)
            .when(pl.col("sign").is_null())
            .then(0)  # Z / UTC / GMT
            .when(off_h.is_between(0, 23) & off_m.is_between(0, 59))
            .then(
                pl.when(pl.col("sign") == "-").then(-1).otherwise(1) * (off_h * 3600 + off_m * 60)
            ),
            serial_value=pl.when(~pl.col("serial").str.contains(_YEAR_MONTH_LOOKALIKE)).then(
                pl.col("serial").cast(pl.Float64, strict=False)
            ),
        )
        .with_columns(
            year=pl.coalesce(
                num("y"),
                num("cy"),
                era.replace_strict({k: v[0] for k, v in _ERAS.items()}, default=None)
                + pl.col("era_year")
                - 1,
            ),
            era_start=era.replace_strict({k: v[1] for k, v in _ERAS.items()}, default=None),
            era_end=era.replace_strict({k: v[2] for k, v in _ERAS.items()}, default=None),
            bad_offset=(pl.col("tz").is_not_null() & pl.col("offset").is_null()),
            time_ok=hour.is_between(0, 23) & minute.is_between(0, 59) & second.is_between(0, 59),
            serial_wall=pl.when(
                serial.is_between(1, _EXCEL_MAX_SERIAL + 1, closed="left")
                & ~serial.is_between(60, 61, closed="left")
            ).then(epoch + pl.duration(seconds=(serial * 86400).round(0).cast(pl.Int64))),
        )
        .with_columns(
            month_days=pl.when(month == 2)
            .then(
                pl.when(((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0))
                .then(29)
                .otherwise(28)
            )
            .when(month.is_in([4, 6, 9, 11]))
            .then(30)
            .otherwise(31)
        )
        .with_columns(
            ok=(year >= 1) & month.is_between(1, 12) & day.is_between(1, pl.col("month_days"))
        )
        .with_columns(
            ymd=pl.date(
                pl.when(pl.col("ok")).then(year),
                pl.when(pl.col("ok")).then(month),
                pl.when(pl.col("ok")).then(day),
            )
        )
        .with_columns(
            date=pl.when(era.is_null() | pl.col("ymd").is_between("era_start", "era_end")).then(
                "ymd"
            )
        )
        .with_columns(
            local=pl.when(pl.col("serial").is_not_null())
            .then("serial_wall")
            .when(pl.col("time_ok") & ~pl.col("bad_offset").fill_null(False))
            .then(
                pl.col("date").cast(pl.Datetime("us"))
                + pl.duration(hours=hour, minutes=minute, seconds=second)
            )
        )
        .select(
            date=pl.when(pl.col("local").is_not_null()).then(
                pl.coalesce("date", pl.col("serial_wall").dt.date())
            ),
            local="local",
            offset="offset",
        )
        .collect()
    )


def _date_rows(raw: pl.Series) -> Normalized:
    cleaned = _prepare(raw)
    values = _when_frame(cleaned)["date"].dt.strftime("%Y-%m-%d").cast(pl.String)
    return _result(cleaned, values, "invalid_date")


# A Gregorian date as most systems export it (2024-01-05, 2024/01/05): settled by its shape and
# the calendar alone; every other cell takes the general parser.
_PLAIN_DATE = r"^[12][0-9]{3}[-/](?:0[1-9]|1[0-2])[-/](?:0[1-9]|[12][0-9]|3[01])$"


def normalize_date(raw: pl.Series) -> Normalized:
    """Dates to ``YYYY-MM-DD``.

    Accepts Y/M/D with ``/ - .`` or 年月日 separators, ``YYYYMMDD``, Japanese eras
    (令和6年1月5日, 平成元年, R6.1.5, H31/4/30, within each era's dates), full-width digits,
    a trailing time or ISO date-time (the date as written is kept) and Excel serials (five
    digits, or a decimal such as ``45296.5``). Impossible dates are ``invalid_date``.
    """
    s = _as_text(raw)
    iso = s.str.replace_all("/", "-", literal=True)
    # No parse cache: with a column of birth dates it misses more than it hits.
    valid = iso.str.to_date("%Y-%m-%d", strict=False, cache=False).is_not_null()
    plain = s.str.contains(_PLAIN_DATE) & valid
    settled = pl.select(pl.when(plain).then(iso)).to_series()
    return _settled_or(s, settled, lambda rest: _by_distinct(rest, _date_rows))


def mostly_plain_dates(raw: pl.Series, sample_size: int = 1_000) -> bool:
    """Whether nearly all of a column's dates take ``normalize_date``'s shortcut (judged on a
    sample): normalising them costs less than looking each cell up in a memo."""
    sample = raw.head(sample_size).drop_nulls()
    sample = sample if sample.dtype == pl.String else sample.cast(pl.String)
    return len(sample) > 0 and sample.str.contains(_PLAIN_DATE).mean() >= 0.9


def _datetime_rows(raw: pl.Series, time_zone: str) -> Normalized:
    cleaned = _prepare(raw)
    local = pl.col("local")
    zoned = (
        local.dt.replace_time_zone(time_zone, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
        .dt.replace_time_zone(None)
    )
    utc = (
        pl.when(pl.col("offset").is_not_null())
        .then(local - pl.duration(seconds=pl.col("offset")))
        .otherwise(zoned)
    )
    frame = _when_frame(cleaned)
    values = frame.select(utc.dt.strftime("%Y-%m-%d %H:%M:%S")).to_series().cast(pl.String)
    return _result(cleaned, values, "invalid_datetime")


def normalize_datetime(raw: pl.Series, *, time_zone: str = "Asia/Tokyo") -> Normalized:
    """Date-times to UTC ``YYYY-MM-DD HH:MM:SS``.

    Everything :func:`normalize_date` accepts, plus ``HH:MM[:SS[.fff]]`` or 13時45分 after the
    date (space or ``T``), an optional ``Z``/``UTC``/``+09:00`` offset and Excel serials with
    a day fraction. Without an offset the time is local to ``time_zone``; a date alone means
    00:00 there. Error code ``invalid_datetime``.
    """
    zoneinfo.ZoneInfo(time_zone)  # fail loudly on a bad configuration, not per row
    return _by_distinct(raw, lambda distinct: _datetime_rows(distinct, time_zone))


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------

# Dash-like characters NFKC leaves alone but people type as a minus sign.
_MINUS_SIGNS = {"\u2212": "-", "\u2010": "-", "\u2012": "-", "\u2013": "-"}
_SIGN = r"[+\-△▲]"
_DIGITS = r"(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)"
# Validated without capture groups (those make the regex engine several times slower); the
# parts are then taken apart with cheap string operations.
_AMOUNT_SHAPE = (
    rf"^{_SIGN}?\s*\(?\s*{_SIGN}?\s*(?:[¥$€£\\]|JPY|USD)?\s*{_SIGN}?\s*"
    rf"(?:{_DIGITS}(?:\.[0-9]+)?|\.[0-9]+)\s*(?:円|JPY|USD)?\s*\)?$"
)
_INTEGER_SHAPE = rf"^{_SIGN}?\s*{_DIGITS}(?:\.[0-9]+)?$"


def _with_number_parts(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Add ``whole`` (integer digits without commas or leading zeros, at least "0"), ``frac``
    (fraction digits without trailing zeros, maybe "") and ``negative`` for column ``s``,
    which is expected to have passed a shape check."""
    digits, dot = pl.col("digits"), pl.col("dot")
    whole = pl.when(dot.is_null()).then(digits).otherwise(digits.str.slice(0, dot))
    whole = whole.str.strip_chars_start("0")
    return (
        frame.with_columns(
            digits=pl.col("s").str.replace_all(r"[^0-9.]", ""),
            negative=pl.col("s").str.contains(r"[\-△▲(]"),
        )
        .with_columns(dot=digits.str.find(".", literal=True))
        .with_columns(
            whole=pl.when(whole == "").then(pl.lit("0")).otherwise(whole),
            frac=pl.when(dot.is_null())
            .then(pl.lit(""))
            .otherwise(digits.str.slice(dot + 1).str.strip_chars_end("0")),
        )
    )


def _amount_rows(raw: pl.Series) -> Normalized:
    cleaned = _prepare(raw)
    s = pl.col("s")
    frame = pl.DataFrame({"s": _replace_many_if_any(cleaned, _MINUS_SIGNS)}).lazy()
    frame = (
        _with_number_parts(frame)
        .with_columns(
            ok=s.str.contains(_AMOUNT_SHAPE)
            # one sign at most, counting "( )" as one; parentheses in pairs
            & (s.str.count_matches(rf"{_SIGN}|\(") <= 1)
            & (s.str.contains("(", literal=True) == s.str.contains(")", literal=True)),
        )
        .with_columns(
            ok=pl.col("ok").fill_null(False),
            too_precise=pl.col("frac").str.len_chars() > 2,
            magnitude=pl.concat_str(
                "whole",
                pl.when(pl.col("frac") != "")
                .then(pl.lit(".") + pl.col("frac"))
                .otherwise(pl.lit("")),
            ),
        )
        .select(
            v=pl.when(pl.col("ok") & ~pl.col("too_precise")).then(
                pl.when(pl.col("negative") & (pl.col("magnitude") != "0"))
                .then(pl.lit("-") + pl.col("magnitude"))
                .otherwise("magnitude")
            ),
            e=pl.when(s.is_null())
            .then(None)
            .when(~pl.col("ok"))
            .then(pl.lit("invalid_amount"))
            .when(pl.col("too_precise"))
            .then(pl.lit("too_many_decimals")),
        )
        .collect()
    )
    return Normalized(
        values=frame["v"].cast(pl.String).alias(cleaned.name),
        errors=frame["e"].cast(pl.String).alias(cleaned.name),
    )


def normalize_amount(raw: pl.Series) -> Normalized:
    """Money amounts to a canonical decimal string (``"1200"``, ``"-1200.5"``, ``"0.99"``).

    Accepts thousands commas, ¥/￥/$/€/£ or a backslash (the yen sign in Shift_JIS files)
    before and 円 after the number, full-width digits, ``-``, △/▲ (Japanese accounting minus)
    and ``(1,200)`` for negatives. A comma is never a decimal separator. Codes
    ``invalid_amount`` and ``too_many_decimals`` (more than two non-zero decimals).
    """
    return _by_distinct(raw, _amount_rows)


def _integer_rows(raw: pl.Series) -> Normalized:
    cleaned = _prepare(raw)
    whole = pl.col("whole")
    frame = pl.DataFrame({"s": _replace_many_if_any(cleaned, _MINUS_SIGNS)}).lazy()
    frame = (
        _with_number_parts(frame)
        .select(
            v=pl.when(pl.col("s").str.contains(_INTEGER_SHAPE) & (pl.col("frac") == ""))
            .then(pl.when(pl.col("negative")).then(pl.lit("-") + whole).otherwise(whole))
            .str.to_integer(strict=False)
        )
        .collect()
    )
    return _result(cleaned, frame["v"].cast(pl.Int64), "invalid_integer")


def normalize_integer(raw: pl.Series) -> Normalized:
    """Whole numbers to Int64: ``3``, ``３``, ``1,000``, ``-5``, ``△5``, ``3.0``; ``3.5`` or
    values outside Int64 are ``invalid_integer``."""
    return _by_distinct(raw, _integer_rows)


# --------------------------------------------------------------------------------------------
# Text, names and kana
# --------------------------------------------------------------------------------------------


def _length_checked(cleaned: pl.Series, max_length: int | None) -> Normalized:
    # A cell has at least as many bytes as characters: usually no cell has even as many bytes
    # as the limit allows characters, and counting bytes is free (the lengths are stored).
    if max_length is None or not (cleaned.str.len_bytes() > max_length).any():
        return Normalized(values=cleaned, errors=_null_strings(cleaned))
    too_long = pl.col("s").str.len_chars() > max_length
    frame = _with(
        cleaned,
        v=pl.when(too_long.fill_null(False)).then(None).otherwise(pl.col("s")),
        e=pl.when(too_long).then(pl.lit("too_long")),
    )
    return Normalized(
        values=frame["v"].alias(cleaned.name),
        errors=frame["e"].cast(pl.String).alias(cleaned.name),
    )


def normalize_text(raw: pl.Series, *, max_length: int | None = None) -> Normalized:
    """Free text: trimmed, runs of whitespace (tabs, newlines, U+3000 …) become one space and
    invisible characters are removed. Character widths are kept as typed (use
    :func:`normalize_name` for width folding). Longer than ``max_length`` characters:
    ``too_long``."""
    return _by_distinct(
        raw, lambda distinct: _length_checked(_prepare(distinct, nfkc=False), max_length)
    )


def normalize_name(raw: pl.Series) -> Normalized:
    """Personal or company names: as :func:`normalize_text`, plus NFKC, which turns
    half-width katakana into full-width (ｶﾞ -> ガ) and full-width letters and digits into
    ASCII. Never an error."""
    return _by_distinct(raw, lambda distinct: _length_checked(_prepare(distinct), None))


_HIRAGANA = [chr(c) for c in range(0x3041, 0x3097)] + ["\u309d", "\u309e"]
_KATAKANA = [chr(c + 0x60) for c in range(0x3041, 0x3097)] + ["\u30fd", "\u30fe"]


# A _PLAIN_CELL without hiragana: such a reading is already what _kana_rows makes of it.
_KATAKANA_CELL = rf"^[{_PLAIN_NOT_HIRAGANA}]+(?: [{_PLAIN_NOT_HIRAGANA}]+)*$"


def _kana_rows(raw: pl.Series) -> Normalized:
    # One regex pass settles the usual cell (katakana already); the rest takes the full path.
    s = _as_text(raw)
    values = _apply_where(s, ~s.str.contains(_KATAKANA_CELL), _katakana)
    return Normalized(values=values, errors=_null_strings(s))


def _katakana(raw: pl.Series) -> pl.Series:
    cleaned = _prepare(raw)
    return _apply_where(
        cleaned,
        cleaned.str.contains("[\u3041-\u3096\u309d\u309e]"),
        lambda sub: sub.str.replace_many(_HIRAGANA, _KATAKANA),
    )


def normalize_kana(raw: pl.Series) -> Normalized:
    """Name readings to full-width katakana: half-width kana widened with their voiced marks
    composed (ｶﾞ -> ガ), hiragana turned into katakana, spaces collapsed. Other characters are
    kept (readings of foreign names often contain Latin letters), so this never errors."""
    return _by_distinct(raw, _kana_rows)


# --------------------------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------------------------

# (JIS X 0401 code, name, Hepburn romanisation with macrons)
_PREFECTURES = [
    (1, "北海道", "Hokkaidō"),
    (2, "青森県", "Aomori"),
    (3, "岩手県", "Iwate"),
    (4, "宮城県", "Miyagi"),
    (5, "秋田県", "Akita"),
    (6, "山形県", "Yamagata"),
    (7, "福島県", "Fukushima"),
    (8, "茨城県", "Ibaraki"),
    (9, "栃木県", "Tochigi"),
    (10, "群馬県", "Gunma"),
    (11, "埼玉県", "Saitama"),
    (12, "千葉県", "Chiba"),
    (13, "東京都", "Tōkyō"),
    (14, "神奈川県", "Kanagawa"),
    (15, "新潟県", "Niigata"),
    (16, "富山県", "Toyama"),
    (17, "石川県", "Ishikawa"),
    (18, "福井県", "Fukui"),
    (19, "山梨県", "Yamanashi"),
    (20, "長野県", "Nagano"),
    (21, "岐阜県", "Gifu"),
    (22, "静岡県", "Shizuoka"),
    (23, "愛知県", "Aichi"),
    (24, "三重県", "Mie"),
    (25, "滋賀県", "Shiga"),
    (26, "京都府", "Kyōto"),
    (27, "大阪府", "Ōsaka"),
    (28, "兵庫県", "Hyōgo"),
    (29, "奈良県", "Nara"),
    (30, "和歌山県", "Wakayama"),
    (31, "鳥取県", "Tottori"),
    (32, "島根県", "Shimane"),
    (33, "岡山県", "Okayama"),
    (34, "広島県", "Hiroshima"),
    (35, "山口県", "Yamaguchi"),
    (36, "徳島県", "Tokushima"),
    (37, "香川県", "Kagawa"),
    (38, "愛媛県", "Ehime"),
    (39, "高知県", "Kōchi"),
    (40, "福岡県", "Fukuoka"),
    (41, "佐賀県", "Saga"),
    (42, "長崎県", "Nagasaki"),
    (43, "熊本県", "Kumamoto"),
    (44, "大分県", "Ōita"),
    (45, "宮崎県", "Miyazaki"),
    (46, "鹿児島県", "Kagoshima"),
    (47, "沖縄県", "Okinawa"),
]
_ROMAJI_SUFFIX = {"都": ["to", "metropolis"], "道": [], "府": ["fu"], "県": ["ken"]}
# Lookup keys are lower-case, without macrons, spaces or punctuation.
_KEY_DROP = r"[\s\-_.,'’()]"
_MACRONS = {"ō": "o", "ū": "u", "ô": "o", "û": "u", "ā": "a"}


def _romaji_spellings(hepburn: str) -> set[str]:
    """Tōkyō -> tokyo, toukyou, tookyoo, … (people spell long vowels every which way)."""
    pieces = re.split("([ōū])", hepburn.lower())
    options = [{"ō": ("o", "ou", "oo"), "ū": ("u", "uu")}.get(p, (p,)) for p in pieces]
    return {"".join(combo) for combo in itertools.product(*options)}


@functools.cache
def _prefecture_keys() -> dict[str, str]:
    keys: dict[str, str] = {}
    for code, name, hepburn in _PREFECTURES:
        keys[name] = name
        if name != "北海道":
            keys[name[:-1]] = name
        keys[str(code)] = keys[f"{code:02d}"] = keys[f"jp{code:02d}"] = name
        for spelling in _romaji_spellings(hepburn):
            for suffix in ["", "prefecture", "pref", *_ROMAJI_SUFFIX[name[-1]]]:
                keys[spelling + suffix] = name
    keys["gumma"] = "群馬県"  # pre-1990s spelling still found in old lists
    return keys


def normalize_prefecture(raw: pl.Series) -> Normalized:
    """Japanese prefectures to their full name (東京/東京都/Tokyo/tokyo-to/Tōkyō/JIS code 13 ->
    東京都). Anything else is kept as trimmed text without error: customers abroad have other
    regions."""
    return _by_distinct(raw, _prefecture_rows)


def _prefecture_rows(raw: pl.Series) -> Normalized:
    cleaned = _prepare(raw)
    key = (
        pl.col("s")
        .str.to_lowercase()
        .str.replace_many(_MACRONS)
        .str.replace_all(_KEY_DROP, "")
        .replace_strict(_prefecture_keys(), default=None, return_dtype=pl.String)
    )
    frame = _with(cleaned, v=pl.coalesce(key, pl.col("s")))
    return Normalized(values=frame["v"].alias(cleaned.name), errors=_null_strings(cleaned))


_PREFECTURE_PREFIX = "^(" + "|".join(name for _, name, _ in _PREFECTURES) + ")"


def prefecture_from_address(address: pl.Series) -> pl.Series:
    """The prefecture an address starts with (``東京都千代田区…`` -> ``東京都``), else null.

    A leading postal code (``〒100-0001 東京都…``) is skipped.
    """

    def rows(distinct: pl.Series) -> Normalized:
        cleaned = _prepare(distinct)
        frame = _with(
            cleaned,
            v=pl.col("s")
            .str.replace(r"^〒?\s*[0-9]{3}-?[0-9]{4}\s*", "")
            .str.extract(_PREFECTURE_PREFIX, 1),
        )
        return Normalized(values=frame["v"].cast(pl.String), errors=_null_strings(cleaned))

    # Only the start of an address matters; cutting it off first makes the rest cheap.
    heads = _as_text(address).str.strip_chars_start().str.slice(0, 24)
    return _by_distinct(heads, rows).values.alias(address.name)


def normalize_postal_code(raw: pl.Series, *, region: str = "JP") -> Normalized:
    """Postal codes. JP: 〒, full-width digits and dashes accepted, ``1234567`` and
    ``123-4567`` -> ``123-4567``; anything but seven digits is ``invalid_postal_code``. Other
    regions: the trimmed, width-folded text, never an error."""
    region = region.upper()
    general = functools.partial(_by_distinct, rows=lambda d: _postal_code_rows(d, region))
    if region != "JP":
        return general(raw)
    # Most cells are already canonical; they are settled by one shape check.
    s = _as_text(raw)
    return _settled_or(
        s, pl.select(pl.when(s.str.contains(_POSTAL_CODE_JP)).then(s)).to_series(), general
    )


_POSTAL_CODE_JP = r"^[0-9]{3}-[0-9]{4}$"


def _postal_code_rows(raw: pl.Series, region: str) -> Normalized:
    cleaned = _prepare(raw)
    if region != "JP":
        return Normalized(values=cleaned, errors=_null_strings(cleaned))
    g = pl.col("s").str.extract_groups(
        r"^〒?\s*(?P<a>[0-9]{3})\s*[\-\x{2010}-\x{2015}\x{2212}\x{30FC}]?\s*(?P<b>[0-9]{4})$"
    )
    frame = _with(cleaned, v=pl.concat_str(g.struct.field("a"), pl.lit("-"), g.struct.field("b")))
    return _result(cleaned, frame["v"], "invalid_postal_code")


# --------------------------------------------------------------------------------------------
# Codes: gender, time zone, tags
# --------------------------------------------------------------------------------------------

_GENDERS = {
    **dict.fromkeys(("男", "男性", "m", "male", "man", "1", "おとこ", "オトコ"), "male"),
    **dict.fromkeys(("女", "女性", "f", "female", "woman", "2", "おんな", "オンナ"), "female"),
    **dict.fromkeys(("その他", "other", "3", "x", "nonbinary", "non-binary"), "other"),
}
# ISO/IEC 5218 uses 0 for "not known" and 9 for "not applicable": a blank, not an error.
_GENDER_UNKNOWN = ["不明", "unknown", "0", "9", "未回答", "無回答", "回答しない", "未設定"]


def normalize_gender(raw: pl.Series) -> Normalized:
    """Gender to ``male``/``female``/``other`` (男/男性/M/1, 女/女性/F/2, その他/X/3).

    "Unknown" answers (不明, unknown, 0, 9, 未回答 …) become null without an error; anything
    else is ``invalid_gender``.
    """
    return _by_distinct(raw, _gender_rows)


def _gender_rows(raw: pl.Series) -> Normalized:
    cleaned = _prepare(raw)
    key = pl.col("s").str.to_lowercase()
    frame = _with(
        cleaned,
        v=key.replace_strict(_GENDERS, default=None, return_dtype=pl.String),
        unknown=key.is_in(_GENDER_UNKNOWN),
    )
    values = frame["v"].alias(cleaned.name)
    blanked = pl.select(pl.when(~frame["unknown"]).then(pl.lit(cleaned))).to_series()
    blanked = blanked.alias(cleaned.name)
    return Normalized(values=values, errors=_errors(blanked, values, "invalid_gender"))


@functools.cache
def _time_zone_names() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def _time_zone_fallback(text: str) -> str | None:
    known = _time_zone_names().get(text.lower())
    if known:
        return known
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return text


def normalize_time_zone(raw: pl.Series) -> Normalized:
    """IANA time zone names (``Asia/Tokyo``; case-insensitive, returned in canonical case),
    checked against zoneinfo once per unique value. Error code ``invalid_time_zone``."""
    return _by_distinct(raw, _time_zone_rows)


def _time_zone_rows(raw: pl.Series) -> Normalized:
    cleaned = _prepare(raw)
    values = _fill_from_unique(
        _null_strings(cleaned), cleaned, cleaned.is_not_null(), _time_zone_fallback
    )
    return _result(cleaned, values, "invalid_time_zone")


# NFKC has already turned ，；｜／ and ･ into , ; | / and ・.
_TAG_SEPARATORS = r"[,;|、・/·\n]"


def normalize_tags(raw: pl.Series) -> Normalized:
    """Tag lists (``pl.List(pl.String)``): split on , ; | 、 ・ / (and their full-width forms) and
    line breaks, each tag trimmed and NFKC-folded, empty tags dropped, duplicates removed
    keeping the first. Cells without any tag are null. Never an error."""
    return _by_distinct(raw, _tag_rows)


def _tag_rows(raw: pl.Series) -> Normalized:
    cleaned = _prepare(raw, keep_lines=True)
    tag = pl.element().str.strip_chars()
    frame = _with(
        cleaned,
        v=pl.col("s")
        .str.replace_all(_TAG_SEPARATORS, ",")
        .str.split(",")
        .list.eval(tag.filter(tag != "").unique(maintain_order=True)),
    )
    values = frame.select(pl.when(pl.col("v").list.len() > 0).then(pl.col("v"))).to_series()
    return Normalized(values=values.alias(cleaned.name), errors=_null_strings(cleaned))
