"""The shortcuts the import takes for speed give exactly what the general path gives.

Each fast path settles the common cells with fewer passes and leaves the rest to the general
code; these tests compare the two on generated cells full of the characters that make the
difference (spaces of every kind, invisible characters, half-width kana, voiced marks, …).
"""

import json

import phonenumbers
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customers.importing import normalize, records
from customers.importing.records import (
    EXTRA,
    ROW,
    _json_from_members,
    _json_members,
    normalize_batch,
)

# Characters that steer the cleanup one way or the other, mixed with ordinary ones.
_TRICKY = (
    " \u3000\t\n\r\x0b\x0c\x00\x07\x7f\u200b\u200d\u2060\ufeff\u309b\u309c"
    "ｶﾞﾊﾟｱ･ＡＢ１２＠－ー〜～´¨㈱①ⅰ℡"
    "\u3099\u309a\u0301é"
)
_ORDINARY = "aZ09-_.@+#/()、。・々〆〒¥▲△ぁゔゝゞァヶーヽヾ一龠山田太郎カナ"
_CELLS = st.text(alphabet=st.sampled_from(_TRICKY + _ORDINARY), max_size=12)


def _general(values: list[str | None], **options: bool) -> list[str | None]:
    """_prepare without its shortcut: the full cleanup on every cell."""
    series = pl.Series("c", values, dtype=pl.String)
    return normalize._empty_to_null(normalize._cleanup(series, **options)).to_list()


def test_plain_characters_need_no_cleanup():
    chars = pl.Series([chr(c) for c in range(1, 0x10000) if not 0xD800 <= c <= 0xDFFF])
    plain = chars.filter(chars.str.contains(f"^{normalize._PLAIN_CHAR}$"))
    assert len(plain) > 20_000  # ASCII, kana, kanji, ...
    assert (plain.str.normalize("NFKC") == plain).all()
    assert not plain.str.contains(normalize._NFKC_UNSTABLE).any()
    assert not plain.str.contains(normalize._INVISIBLE).any()
    assert not plain.str.contains(r"\s").any()
    assert not any(c.isspace() for c in plain.to_list())


def assert_same(result, general) -> None:
    """The shortcut's values and errors are the general path's, cell for cell."""
    assert result.values.to_list() == general.values.to_list()
    assert result.errors.to_list() == general.errors.to_list()


@settings(max_examples=300, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), _CELLS), min_size=1, max_size=40))
def test_prepare_gives_what_the_full_cleanup_gives(cells):
    series = pl.Series("c", cells, dtype=pl.String)
    for nfkc in (True, False):
        for keep_lines in (True, False):
            expected = _general(cells, nfkc=nfkc, keep_lines=keep_lines)
            got = normalize._prepare(series, nfkc=nfkc, keep_lines=keep_lines).to_list()
            assert got == expected, (nfkc, keep_lines)


def test_prepare_shortcut_cases():
    cells = [
        "山田 太郎",
        "山田  太郎",
        " 山田",
        "山田 ",
        "ﾔﾏﾀﾞ",
        "やまだ",
        "",
        "a\tb",
        "〒100-0001",
        None,
    ]
    assert normalize._prepare(pl.Series(cells, dtype=pl.String)).to_list() == _general(
        cells, nfkc=True, keep_lines=False
    )


def _customer_batch(columns: dict[str, list[str | None]]) -> pl.DataFrame:
    rows = len(next(iter(columns.values())))
    return pl.DataFrame(
        {
            ROW: pl.Series(range(2, rows + 2), dtype=pl.Int64),
            **{name: pl.Series(values, dtype=pl.String) for name, values in columns.items()},
            EXTRA: pl.Series([None] * rows, dtype=pl.String),
        }
    )


def test_the_prefecture_is_read_from_the_address_only_where_the_row_has_none():
    batch = _customer_batch(
        {
            "顧客ID": ["C1", "C2", "C3", "C4"],
            "都道府県": ["大阪府", None, None, "北海道"],
            "住所": ["東京都千代田区1-1", "〒100-0001 東京都千代田区", "どこか", None],
        }
    )
    mapping = {"顧客ID": "external_id", "都道府県": "prefecture", "住所": "address"}

    records = normalize_batch("customers", batch, mapping).records

    assert records["prefecture"].to_list() == ["大阪府", "東京都", None, "北海道"]


# Domestic-looking numbers: a 0, digits, hyphens anywhere, plus the odd spellings next to them.
_DOMESTIC = st.builds(
    lambda first, digits, cuts: (
        "0"
        + first
        + "".join(d + ("-" if i in cuts else "") for i, d in enumerate(digits)).rstrip("-")
    ),
    st.sampled_from("0123456789"),
    st.text(alphabet="0123456789", min_size=0, max_size=15),
    st.sets(st.integers(0, 14), max_size=4),
)
_PHONE_CELLS = st.one_of(
    _DOMESTIC,
    st.sampled_from(
        ["010-1-212-555-0100", "0037680312345678", "0002123456", "+81-90-1234-5678", ""]
    ),
    st.text(alphabet="0123456789-+() ", max_size=16),
)


@settings(max_examples=300, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), _PHONE_CELLS), min_size=1, max_size=30))
def test_the_domestic_phone_shortcut_gives_what_the_general_path_gives(cells):
    series = pl.Series("phone", cells, dtype=pl.String)
    general = normalize._phone_rows(series, "JP")

    result = normalize.normalize_phone(series, region="JP")

    assert_same(result, general)


@settings(max_examples=200, deadline=None)
@given(cell=_DOMESTIC)
def test_numbers_the_domestic_shortcut_accepts_are_what_phonenumbers_reads(cell):
    value = normalize.normalize_phone(pl.Series([cell]), region="JP").values[0]
    try:
        number = phonenumbers.parse(cell, "JP")
    except phonenumbers.NumberParseException:
        assert value is None
        return
    if phonenumbers.is_valid_number(number):
        assert value == phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def test_the_domestic_shortcut_cases():
    cells = ["090-1234-5678", "03-1234-5678", "0312345678", "0120-123-456", "01-0123-4567"]
    cells += ["090-1234-567", "00-1234-5678", "0-90-1234-5678", "090--1234-5678", None, ""]
    series = pl.Series(cells, dtype=pl.String)
    assert normalize._domestic_shortcut("JP")
    general = normalize._phone_rows(series, "JP")
    result = normalize.normalize_phone(series, region="JP")
    assert_same(result, general)
    assert result.values.to_list()[:4] == [
        "+819012345678",
        "+81312345678",
        "+81312345678",
        "+81120123456",
    ]


def _json_object_by_encoder(frame: pl.DataFrame, columns: dict[str, str]) -> list[str | None]:
    """Attributes as polars' JSON encoder writes every value (the general path)."""
    pieces = []
    for key, column in columns.items():
        encoded = pl.struct(pl.col(column).alias(key)).struct.json_encode()
        pieces.append(
            pl.when(pl.col(column).is_not_null()).then(
                encoded.str.slice(1, encoded.str.len_chars() - 2)
            )
        )
    body = pl.concat_str(pieces, separator=",", ignore_nulls=True)
    return (
        frame.select(pl.when(body.str.len_chars() > 0).then("{" + body + "}")).to_series().to_list()
    )


_JSON_TEXT = st.text(alphabet=st.sampled_from('ab一般"\\\x00\x1f\x7f\u2028 /é😀'), max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    keys=st.lists(_JSON_TEXT, min_size=1, max_size=3, unique=True),
    rows=st.lists(st.lists(st.one_of(st.none(), _JSON_TEXT), min_size=3, max_size=3), max_size=8),
)
def test_attributes_json_is_what_the_json_encoder_writes(keys, rows):
    frame = pl.DataFrame(
        {f"c{i}": pl.Series([row[i] for row in rows], dtype=pl.String) for i in range(len(keys))}
    )
    columns = {key: f"c{i}" for i, key in enumerate(keys)}

    members = [_json_members(frame[column], key) for key, column in columns.items()]
    got = _json_from_members(members, frame.height).to_list()

    assert got == _json_object_by_encoder(frame, columns)
    for text, row in zip(got, rows, strict=True):
        expected = {key: row[i] for i, key in enumerate(keys) if row[i] is not None}
        assert (json.loads(text) if text else {}) == expected


_POSTAL_CELLS = st.one_of(
    st.builds(lambda a, b: f"{a}-{b}", st.integers(0, 999), st.integers(0, 99999)).map(
        lambda text: text.zfill(8)
    ),
    st.text(alphabet=st.sampled_from("0123456789-〒 　１２ー－"), max_size=10),
)


@settings(max_examples=300, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), _POSTAL_CELLS), min_size=1, max_size=30))
def test_the_postal_code_shortcut_gives_what_the_general_path_gives(cells):
    series = pl.Series("postal", cells, dtype=pl.String)
    general = normalize._postal_code_rows(series, "JP")

    result = normalize.normalize_postal_code(series, region="JP")

    assert_same(result, general)


def _memo_batches() -> list[pl.DataFrame]:
    genders = ["男", "女", "不明", "?", None, " 男 "]
    dates = ["1980/01/02", "1980-01-02", "2024/02/30", "平成2年3月4日", None, "x"]
    tags = ["家電、旅行", "旅行", "", None, "a/b/a"]
    batches = []
    for number in range(4):
        rows = 12
        batches.append(
            _customer_batch(
                {
                    "顧客ID": [f"C{number}-{i}" for i in range(rows)],
                    "氏名": [f"名{(i * (number + 1)) % 5}" for i in range(rows)],
                    "性別": [genders[(i + number) % len(genders)] for i in range(rows)],
                    "生年月日": [dates[(i * (number + 1) + 1) % len(dates)] for i in range(rows)],
                    "興味": [tags[(i + 2 * number) % len(tags)] for i in range(rows)],
                    "会員ランク": [
                        ["一般", "ゴールド", None, 'VIP "A"\\'][(i + number) % 4]
                        for i in range(rows)
                    ],
                }
            ).with_columns(pl.col(ROW) + 100 * number)
        )
    return batches


_MEMO_MAPPING = {
    "顧客ID": "external_id",
    "氏名": "name",
    "性別": "gender",
    "生年月日": "birth_date",
    "興味": "tags",
    "会員ランク": "attr:会員ランク",
}


@pytest.mark.parametrize("limit", [250_000, 3])  # memoised throughout; given up half-way
def test_batches_normalised_with_column_memos_come_out_as_normalised_alone(monkeypatch, limit):
    monkeypatch.setattr(records._ColumnMemo, "LIMIT", limit)
    memos = records.ColumnMemos()
    for batch in _memo_batches():
        alone = normalize_batch("customers", batch, _MEMO_MAPPING)
        memoised = normalize_batch("customers", batch, _MEMO_MAPPING, memos=memos)
        assert memoised.records.to_dicts() == alone.records.to_dicts()
        assert memoised.errors.sort("row_no", "column").to_dicts() == (
            alone.errors.sort("row_no", "column").to_dicts()
        )
    assert memos["顧客ID"].active is False  # all distinct: never memoised
    assert memos["氏名"].active is False  # plain text: cheaper row by row
    assert memos["生年月日"].active is (limit > 3)  # a third of its dates need the parser
    assert memos["会員ランク"].active is True  # three ranks: looked up as JSON members


def test_a_memo_of_valid_cells_only_still_reports_new_errors_and_blank_cells():
    # The first batch's genders are all valid (the memo looks values up alone); the second
    # brings an invalid one and a blank one, and a third batch finds them in the memo.
    mapping = {"顧客ID": "external_id", "性別": "gender"}
    memos = records.ColumnMemos()
    for number, genders in enumerate([["男", "女"] * 6, ["男", "?", " ", "女"] * 3]):
        batch = _customer_batch({"顧客ID": [f"C{number}-{i}" for i in range(12)], "性別": genders})
        memoised = normalize_batch("customers", batch, mapping, memos=memos)
        alone = normalize_batch("customers", batch, mapping)
        assert memoised.records.to_dicts() == alone.records.to_dicts()
        assert memoised.errors.to_dicts() == alone.errors.to_dicts()
    assert memos["性別"].active is True
    repeat = _customer_batch(
        {"顧客ID": [f"R{i}" for i in range(4)], "性別": ["?", " ", "女", "男"]}
    )
    result = normalize_batch("customers", repeat, mapping, memos=memos)
    assert result.records["gender"].to_list() == [None, "female", "male"]  # "?" is an error row
    assert result.errors[["row_no", "code"]].rows() == [(2, "invalid_gender")]


def test_a_column_of_plain_dates_is_normalised_row_by_row_not_memoised():
    memos = records.ColumnMemos()
    batch = _customer_batch(
        {"顧客ID": ["C1", "C2", "C3"], "生年月日": ["1980/01/02", "1980-01-02", "1999/12/31"]}
    )
    result = normalize_batch(
        "customers", batch, {"顧客ID": "external_id", "生年月日": "birth_date"}, memos=memos
    )
    assert result.records["birth_date"].to_list() == ["1980-01-02", "1980-01-02", "1999-12-31"]
    assert memos["生年月日"].active is False


_DATE_CELLS = st.one_of(
    st.builds(
        lambda y, a, m, b, d: f"{y}{a}{m}{b}{d}",
        st.sampled_from(["0999", "1000", "1899", "1900", "1989", "2000", "2024", "2999", "3000"]),
        st.sampled_from(["-", "/", ".", "年", "", " "]),
        st.sampled_from(["00", "01", "02", "1", "09", "10", "12", "13", "２"]),
        st.sampled_from(["-", "/", ".", "月", ""]),
        st.sampled_from(["00", "01", "1", "28", "29", "30", "31", "32", "１"]),
    ),
    st.text(alphabet=st.sampled_from("0123456789-/年月日 令和"), max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), _DATE_CELLS), min_size=1, max_size=40))
def test_date_shortcut_gives_what_the_date_parser_gives(cells):
    series = pl.Series("c", cells, dtype=pl.String)
    assert_same(
        normalize.normalize_date(series), normalize._by_distinct(series, normalize._date_rows)
    )


_EMAIL_CELLS = st.one_of(
    st.builds(
        lambda local, domain, tld: f"{local}@{domain}.{tld}",
        st.text(alphabet="abAB09._+-", min_size=0, max_size=70),
        st.text(alphabet="abcAB09-.", min_size=0, max_size=12),
        st.sampled_from(["jp", "com", "JP", "test", "local", "x", "co.jp", "onion"]),
    ),
    st.text(alphabet=st.sampled_from('ab@.-"\\ ＠Ａé_+'), max_size=16),
)


@settings(max_examples=300, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), _EMAIL_CELLS), min_size=1, max_size=30))
def test_the_email_shortcut_gives_what_the_general_path_gives(cells):
    series = pl.Series("email", cells, dtype=pl.String)
    general = normalize._email_rows(series)

    result = normalize.normalize_email(series)

    assert_same(result, general)


def test_the_email_shortcut_cases():
    cells = [
        "taro@example.jp",
        "Taro.Y@Example.JP",
        "a--b@example.jp",
        "x@a.test",
        "a" * 65 + "@b.jp",
    ]
    cells += ["a@b-.jp", "a@xn--p8s937b.jp", " taro@example.jp", "", None]
    series = pl.Series(cells, dtype=pl.String)
    general = normalize._email_rows(series)
    result = normalize.normalize_email(series)
    assert_same(result, general)
    assert result.values.to_list()[:2] == ["taro@example.jp", "Taro.Y@example.jp"]


def test_a_column_memo_starts_on_a_batch_whose_cells_are_all_empty():
    memos = records.ColumnMemos()
    empty = _customer_batch({"顧客ID": ["C1", "C2", "C3"], "性別": [None, None, None]})
    later = _customer_batch({"顧客ID": ["C4", "C5", "C6"], "性別": ["男", "男", "?"]})
    mapping = {"顧客ID": "external_id", "性別": "gender"}

    normalize_batch("customers", empty, mapping, memos=memos)
    result = normalize_batch("customers", later, mapping, memos=memos)

    assert result.records["gender"].to_list() == ["male", "male"]
    assert result.errors["code"].to_list() == ["invalid_gender"]
