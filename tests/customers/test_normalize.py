"""Tests for the vectorised column normalisers (no database needed)."""

import random
from collections.abc import Callable

import phonenumbers
import polars as pl
import pytest
from email_validator import EmailNotValidError, validate_email

from customers.importing import normalize as normalize_module
from customers.importing.normalize import (
    ERROR_MESSAGES,
    Normalized,
    normalize_amount,
    normalize_date,
    normalize_datetime,
    normalize_email,
    normalize_gender,
    normalize_integer,
    normalize_kana,
    normalize_name,
    normalize_phone,
    normalize_postal_code,
    normalize_prefecture,
    normalize_tags,
    normalize_text,
    normalize_time_zone,
    prefecture_from_address,
)


def run(fn: Callable[..., Normalized], values: list, **kwargs) -> list[tuple[object, object]]:
    result = fn(pl.Series("column", values, dtype=pl.String), **kwargs)
    return list(zip(result.values.to_list(), result.errors.to_list(), strict=True))


def one(fn: Callable[..., Normalized], value: str | None, **kwargs) -> tuple[object, object]:
    return run(fn, [value], **kwargs)[0]


ALL_NORMALIZERS = [
    normalize_phone,
    normalize_email,
    normalize_date,
    normalize_datetime,
    normalize_amount,
    normalize_integer,
    normalize_text,
    normalize_name,
    normalize_kana,
    normalize_postal_code,
    normalize_prefecture,
    normalize_gender,
    normalize_time_zone,
    normalize_tags,
]

# A few typical, odd, invalid and empty cells per normaliser, used by the generic tests.
SAMPLES: dict[Callable[..., Normalized], list[str | None]] = {
    normalize_phone: ["090-1234-5678", "+1 212-555-1234", "03-1234-5678 内線12", "12345", None],
    normalize_email: ["Taro@Example.COM", "user@例え.jp", "nope", " ", None],
    normalize_date: ["2024/1/5", "令和6年1月5日", "45296", "2023/02/30", "", None],
    normalize_datetime: ["2024/01/05 13:45", "2024-01-05T04:45:00Z", "2024/01/05 25:00", None],
    normalize_amount: ["¥1,200", "(1,200)", "1.999", "12,99", None],
    normalize_integer: ["1,000", "３", "3.5", None],
    normalize_text: ["  a\u3000 b ", "\u200bx", None],
    normalize_name: ["ﾔﾏﾀﾞ ﾀﾛｳ", "ＡＢＣ", None],
    normalize_kana: ["やまだ", "ｶﾞｷﾞ", None],
    normalize_postal_code: ["〒100-0001", "12345", None],
    normalize_prefecture: ["東京", "Osaka", "California", None],
    normalize_gender: ["男", "F", "不明", "?", None],
    normalize_time_zone: ["asia/tokyo", "JST", None],
    normalize_tags: ["VIP,ゴールド会員", "a、b・a", ",,", None],
}


# --------------------------------------------------------------------------------------------
# Behaviour common to every normaliser
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", ALL_NORMALIZERS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("empty", [None, "", "   ", "\u3000", "\t\n", "\u3000 \u200b"])
def test_empty_cells_give_null_value_and_no_error(fn, empty):
    assert one(fn, empty) == (None, None)


@pytest.mark.parametrize("fn", ALL_NORMALIZERS, ids=lambda f: f.__name__)
def test_result_keeps_length_and_name_and_has_string_errors(fn):
    raw = pl.Series("my_column", SAMPLES[fn], dtype=pl.String)
    result = fn(raw)
    assert len(result.values) == len(result.errors) == len(raw)
    assert result.values.name == result.errors.name == "my_column"
    assert result.errors.dtype == pl.String


@pytest.mark.parametrize("fn", ALL_NORMALIZERS, ids=lambda f: f.__name__)
def test_a_row_has_a_value_or_an_error_code_never_both(fn):
    for value, error in run(fn, SAMPLES[fn]):
        assert value is None or error is None
        assert error is None or error in ERROR_MESSAGES


@pytest.mark.parametrize("fn", ALL_NORMALIZERS, ids=lambda f: f.__name__)
def test_input_series_is_not_modified(fn):
    raw = pl.Series("c", SAMPLES[fn], dtype=pl.String)
    before = raw.to_list()
    fn(raw)
    assert raw.to_list() == before


@pytest.mark.parametrize("fn", ALL_NORMALIZERS, ids=lambda f: f.__name__)
def test_large_repetitive_column_matches_row_by_row_results(fn):
    # Above the sample size, columns with few distinct values are normalised per distinct
    # value and joined back; that must give exactly the per-row answers, in row order.
    samples = SAMPLES[fn]
    expected = run(fn, samples)
    repeats = 25_000 // len(samples) + 1
    rows = [samples[(i * 7) % len(samples)] for i in range(repeats * len(samples))]
    got = run(fn, rows)
    assert got == [expected[(i * 7) % len(samples)] for i in range(len(rows))]


def test_large_column_of_distinct_values_is_normalised_row_by_row_correctly():
    rows = [
        f"2024-01-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:{(i // 60) % 60:02d}"
        for i in range(30_000)
    ]
    got = normalize_datetime(pl.Series(rows), time_zone="UTC").values.to_list()
    assert got == [row.replace("T", " ") for row in rows]


def test_non_string_input_is_cast_to_text():
    result = normalize_integer(pl.Series("n", [3, None, 1000]))
    assert result.values.to_list() == [3, None, 1000]
    assert result.errors.to_list() == [None, None, None]


def test_all_null_input_of_null_dtype_is_accepted():
    result = normalize_phone(pl.Series("p", [None, None]))
    assert result.values.to_list() == [None, None]
    assert result.errors.to_list() == [None, None]


def test_empty_series_gives_empty_result():
    result = normalize_date(pl.Series("d", [], dtype=pl.String))
    assert len(result.values) == len(result.errors) == 0


def test_error_messages_are_lazy_translations_for_every_code():
    codes = {
        "invalid_phone",
        "invalid_email",
        "invalid_date",
        "invalid_datetime",
        "invalid_amount",
        "too_many_decimals",
        "invalid_integer",
        "too_long",
        "invalid_postal_code",
        "invalid_gender",
        "invalid_time_zone",
    }
    assert set(ERROR_MESSAGES) == codes
    for message in ERROR_MESSAGES.values():
        assert type(message).__name__ == "__proxy__"  # gettext_lazy promise
        assert str(message)


# --------------------------------------------------------------------------------------------
# Phone numbers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("090-1234-5678", "+819012345678"),
        ("09012345678", "+819012345678"),
        ("０９０－１２３４－５６７８", "+819012345678"),
        ("０９０ー１２３４ー５６７８", "+819012345678"),  # long-vowel mark typed as a dash
        ("090‐1234−5678", "+819012345678"),  # hyphen and minus sign look-alikes
        ("(03) 1234-5678", "+81312345678"),
        ("（０３）１２３４－５６７８", "+81312345678"),
        ("03-1234-5678", "+81312345678"),
        ("03.1234.5678", "+81312345678"),
        ("+81 90 1234 5678", "+819012345678"),
        ("＋８１　９０　１２３４　５６７８", "+819012345678"),
        ("+81-3-1234-5678", "+81312345678"),
        ("+81 (0)3-1234-5678", "+81312345678"),
        ("+81-090-1234-5678", "+819012345678"),
        ("0120-123-456", "+81120123456"),  # toll free
        ("0120123456", "+81120123456"),
        ("0800-123-4567", "+818001234567"),
        ("050-1234-5678", "+815012345678"),  # IP phone
        ("0570-123-456", "+81570123456"),  # navi dial
        (" 090-1234-5678 ", "+819012345678"),
    ],
)
def test_japanese_phone_formats_become_e164(raw, expected):
    assert one(normalize_phone, raw) == (expected, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("9012345678", "+819012345678"),  # Excel dropped the leading 0 of a mobile number
        ("312345678", "+81312345678"),  # ... of a Tokyo number
        ("120123456", "+81120123456"),  # ... of a toll-free number
    ],
)
def test_numbers_that_lost_their_leading_zero_in_excel_are_recovered(raw, expected):
    assert one(normalize_phone, raw) == (expected, None)


@pytest.mark.parametrize("raw", ["81 90-1234-5678", "819012345678", "81-3-1234-5678"])
def test_country_code_without_plus_is_read_as_phonenumbers_does(raw):
    expected = phonenumbers.format_number(
        phonenumbers.parse(raw, "JP"), phonenumbers.PhoneNumberFormat.E164
    )
    assert one(normalize_phone, raw) == (expected, None)
    assert expected.startswith("+81")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("03-1234-5678 内線12", "+81312345678"),
        ("03-1234-5678（内線１２）", "+81312345678"),
        ("03-1234-5678 内12", "+81312345678"),
        ("03-1234-5678 ext. 12", "+81312345678"),
        ("03-1234-5678 x12", "+81312345678"),
        ("03-1234-5678#12", "+81312345678"),
        ("090-1234-5678（本人）", "+819012345678"),
        ("090-1234-5678 (携帯)", "+819012345678"),
        ("090-1234-5678 本人", "+819012345678"),
        ("TEL:03-1234-5678", "+81312345678"),
        ("携帯 090-1234-5678", "+819012345678"),
    ],
)
def test_extensions_and_notes_are_dropped_keeping_the_main_number(raw, expected):
    assert one(normalize_phone, raw) == (expected, None)


@pytest.mark.parametrize(
    "raw",
    [
        "12345",
        "090-1234-567",  # one digit short
        "090-1234-56789",  # one digit too many
        "0000000000",
        "+81 1234",
        "abc",
        "電話なし",
        "03-1234-5678 / 090-1111-2222",  # two numbers: which one?
        "03-1234-5678、090-1111-2222",
        "+999 1234 5678",  # no such country code
        "1-800-FLOWERS",  # a US vanity number is not valid in JP
    ],
)
def test_invalid_phone_numbers_are_errors(raw):
    assert one(normalize_phone, raw) == (None, "invalid_phone")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1 212-555-1234", "+12125551234"),  # US number in a Japanese file
        ("+1 (416) 555-0123", "+14165550123"),  # Canadian: shares +1 with the US
        ("+49 30 123456", "+4930123456"),  # German
        ("+49 (0)30 123456", "+4930123456"),
        ("+44 20 7946 0958", "+442079460958"),  # British
        ("010 1 212 555 1234", "+12125551234"),  # Japanese international dialling prefix
        ("+86 138 0013 8000", "+8613800138000"),  # Chinese mobile
    ],
)
def test_foreign_numbers_go_through_the_phonenumbers_fallback(raw, expected):
    assert one(normalize_phone, raw) == (expected, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(212) 555-1234", "+12125551234"),
        ("212-555-1234", "+12125551234"),
        ("212.555.1234", "+12125551234"),
        ("2125551234", "+12125551234"),
        ("1-212-555-1234", "+12125551234"),
        ("+1 212 555 1234", "+12125551234"),
        ("(800) 555-0199", "+18005550199"),
        ("+81 90-1234-5678", "+819012345678"),
        ("011 81 90 1234 5678", "+819012345678"),  # US international dialling prefix
    ],
)
def test_region_parameter_applies_that_countrys_rules(raw, expected):
    assert one(normalize_phone, raw, region="US") == (expected, None)
    assert one(normalize_phone, raw, region="us") == (expected, None)


def test_canadian_number_is_valid_with_region_us_because_ca_shares_the_country_code():
    example = phonenumbers.example_number_for_type("CA", phonenumbers.PhoneNumberType.FIXED_LINE)
    national = phonenumbers.national_significant_number(example)
    assert one(normalize_phone, national, region="US") == (f"+1{national}", None)


def test_phone_with_region_without_metadata_relies_on_phonenumbers():
    assert run(normalize_phone, ["+81 90 1234 5678", "090-1234-5678"], region="ZZ") == [
        ("+819012345678", None),
        (None, "invalid_phone"),
    ]


def _reference_e164(raw: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _phone_corpus(region: str, size: int, seed: int) -> list[str]:
    """Example numbers of every type, in national and international form, mutated at random
    or made too long, plus random digit strings behind every kind of prefix."""
    rng = random.Random(seed)
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    cc, prefix = str(meta.country_code), meta.national_prefix or ""
    values = []
    for number_type in range(12):
        example = phonenumbers.example_number_for_type(region, number_type)
        if example is None:
            continue
        national = phonenumbers.national_significant_number(example)
        values += [national, prefix + national, f"+{cc}{national}", cc + national]
        for _ in range(40):
            i = rng.randrange(len(national))
            mutated = national[:i] + rng.choice("0123456789") + national[i + 1 :]
            values += [mutated, prefix + mutated, f"+{cc} {mutated}"]
        # Too long by one digit or more: past the 17 digits any national number may have.
        values += [f"+{cc}{national}{'0' * n}" for n in (1, 17 - len(national), 18 - len(national))]
    prefixes = ["", "0", "00", "010", "011", "1", "+", f"+{cc}", cc, f"+{cc}0", "0003768"]
    while len(values) < size:
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(0, 14)))
        values.append(rng.choice(prefixes) + digits)
    return list(dict.fromkeys(v for v in values if v))


@pytest.mark.parametrize("region", ["JP", "US", "CA", "GB", "DE", "FR", "IT", "AR", "MX", "BR"])
def test_phone_validity_matches_phonenumbers_is_valid_number(region):
    corpus = _phone_corpus(region, size=2500, seed=1)
    got = normalize_phone(pl.Series(corpus), region=region).values.to_list()
    mismatches = [
        (raw, value, _reference_e164(raw, region))
        for raw, value in zip(corpus, got, strict=True)
        if value != _reference_e164(raw, region)
    ]
    assert mismatches == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("00777012", "+8100777012"), ("00371234567", "+8100371234567")],
)
def test_prefix_is_kept_where_phonenumbers_keeps_it(raw, expected):
    # International toll-free numbers start with 00: stripping the national prefix "0" would
    # leave a number that is not viable, so phonenumbers keeps it, and so do we.
    assert one(normalize_phone, raw) == (expected, None)
    assert _reference_e164(raw, "JP") == expected


def test_fast_path_rules_compile_as_rust_regexes_for_every_supported_region():
    failed = [r for r in phonenumbers.SUPPORTED_REGIONS if normalize_module._phone_rules(r) is None]
    assert failed == []


def test_common_japanese_numbers_never_reach_the_per_value_fallback(monkeypatch):
    def no_parse(*args, **kwargs):
        raise AssertionError("phonenumbers.parse must not run for common numbers")

    monkeypatch.setattr(phonenumbers, "parse", no_parse)
    cells = {
        "090-1234-5678": "+819012345678",
        "03-1234-5678": "+81312345678",
        "(03) 1234-5678": "+81312345678",
        "０９０１２３４５６７８": "+819012345678",
        "+81 90 1234 5678": "+819012345678",
        "0120-123-456": "+81120123456",
        "9012345678": "+819012345678",
        "03-1234-567": None,  # invalid, and settled without phonenumbers too
        "": None,
    }
    assert normalize_phone(pl.Series(list(cells))).values.to_list() == list(cells.values())


def test_fallback_runs_once_per_distinct_unusual_value(monkeypatch):
    calls = []
    original = normalize_module._phone_fallback

    def counting(text, region):
        calls.append(text)
        return original(text, region)

    monkeypatch.setattr(normalize_module, "_phone_fallback", counting)
    raw = ["+1 212-555-1234"] * 50 + ["03-1234-5678 内線1"] * 50 + ["090-1234-5678"] * 50
    normalize_phone(pl.Series(raw))
    assert sorted(calls) == ["+1 212-555-1234", "03-1234-5678 内線1"]


# --------------------------------------------------------------------------------------------
# E-mail addresses
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("taro@example.com", "taro@example.com"),
        ("Taro.Yamada@Example.COM", "Taro.Yamada@example.com"),  # local part keeps its case
        ("  taro@example.jp ", "taro@example.jp"),
        ("ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ", "taro@example.com"),
        ("taro＠example.com", "taro@example.com"),
        ("taro+tag@gmail.com", "taro+tag@gmail.com"),
        ("first_last-1@mail.example.co.jp", "first_last-1@mail.example.co.jp"),
        ("a@b.co", "a@b.co"),
        ("user@例え.jp", "user@例え.jp"),  # internationalised domain
        ("user@xn--r8jz45g.jp", "user@例え.jp"),  # ... given in its ASCII form
        ("山田@example.jp", "山田@example.jp"),  # internationalised local part
        ("o'brien@example.ie", "o'brien@example.ie"),
    ],
)
def test_valid_email_addresses_are_normalised(raw, expected):
    assert one(normalize_email, raw) == (expected, None)


@pytest.mark.parametrize(
    "raw",
    [
        "taro",
        "taro@",
        "@example.com",
        "taro@@example.com",
        "taro@example",
        "taro@localhost",
        "a..b@example.com",
        ".taro@example.com",
        "taro.@example.com",
        "taro@example.test",  # special-use domain
        "taro@-example.com",
        "taro @example.com",
        "山田 <taro@example.com>",
        "taro@example..com",
    ],
)
def test_invalid_email_addresses_are_errors(raw):
    assert one(normalize_email, raw) == (None, "invalid_email")


def test_email_fast_path_agrees_with_email_validator():
    rng = random.Random(5)
    chars = "aZ09._+-@"
    corpus = ["".join(rng.choice(chars) for _ in range(rng.randint(3, 12))) for _ in range(1500)]
    corpus += [f"u{rng.choice(chars)}x@{rng.choice(['Ex.com', 'a.b.c.jp', 'x-y.org', 'q.test'])}"]
    corpus += ["a" * 64 + "@example.com", "a" * 65 + "@example.com", "a@" + "b" * 64 + ".com"]
    got = normalize_email(pl.Series(corpus)).values.to_list()
    for raw, value in zip(corpus, got, strict=True):
        try:
            expected = validate_email(raw.strip(), check_deliverability=False).normalized
        except EmailNotValidError:
            expected = None
        assert value == expected, raw


def test_plain_addresses_never_reach_email_validator(monkeypatch):
    def no_validation(*args, **kwargs):
        raise AssertionError("email_validator must not run for plain addresses")

    monkeypatch.setattr(normalize_module, "validate_email", no_validation)
    raw = [
        "taro@example.com",
        "Hanako.Sato@Example.CO.JP",
        "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｃｏｍ",
        None,
    ]
    assert normalize_email(pl.Series(raw)).values.to_list() == [
        "taro@example.com",
        "Hanako.Sato@example.co.jp",
        "taro@example.com",
        None,
    ]


# --------------------------------------------------------------------------------------------
# Dates
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "2024/01/05",
        "2024/1/5",
        "2024-01-05",
        "2024-1-5",
        "2024.1.5",
        "2024.01.05",
        "20240105",
        "2024年1月5日",
        "2024年01月05日",
        "2024 年 1 月 5 日",
        "２０２４年１月５日",
        "２０２４／０１／０５",
        "２０２４０１０５",
        "令和6年1月5日",
        "令和６年１月５日",
        "R6.1.5",
        "r6.1.5",
        "R06.01.05",
        "R6/1/5",
        "令6.1.5",
        "㋿6年1月5日",  # the one-character era sign
        "2024-01-05T13:45:00",
        "2024-01-05T23:30:00+09:00",  # the date as written, not converted
        "2024-01-05 13:45:00Z",
        "2024/01/05 00:00:00",  # Excel export
        "2024/1/5 0:00",
        "2024年1月5日 13時45分",
        "45296",  # Excel serial
        "45296.5",
        "45296.999988",
    ],
)
def test_date_formats_give_iso_date(raw):
    assert one(normalize_date, raw) == ("2024-01-05", None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("平成元年1月8日", "1989-01-08"),
        ("平成31年4月30日", "2019-04-30"),
        ("H31/4/30", "2019-04-30"),
        ("㍻31年4月30日", "2019-04-30"),
        ("令和元年5月1日", "2019-05-01"),
        ("R元.5.1", "2019-05-01"),
        ("昭和64年1月7日", "1989-01-07"),
        ("S55.3.1", "1980-03-01"),
        ("s55.3.1", "1980-03-01"),
        ("昭和元年12月25日", "1926-12-25"),
        ("大正15年12月24日", "1926-12-24"),
        ("大正元年7月30日", "1912-07-30"),
        ("T1.7.30", "1912-07-30"),
        ("明治45年7月29日", "1912-07-29"),
        ("明治6年1月1日", "1873-01-01"),
        ("M33.1.1", "1900-01-01"),
    ],
)
def test_japanese_eras_convert_within_their_boundaries(raw, expected):
    assert one(normalize_date, raw) == (expected, None)


@pytest.mark.parametrize(
    "raw",
    [
        "令和元年4月30日",  # still 平成
        "R1.4.30",
        "平成31年5月1日",  # already 令和
        "H31/5/1",
        "平成元年1月7日",  # still 昭和
        "昭和64年1月8日",  # already 平成
        "昭和元年12月24日",  # still 大正
        "大正15年12月25日",  # already 昭和
        "大正元年7月29日",  # still 明治
        "明治45年7月30日",  # already 大正
        "明治5年12月31日",  # lunar calendar in use then
        "令和0年1月1日",
        "平成2年2月30日",
    ],
)
def test_dates_outside_their_era_are_errors(raw):
    assert one(normalize_date, raw) == (None, "invalid_date")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10000", "1927-05-18"),
        ("45296", "2024-01-05"),
        ("99999", "2173-10-13"),
        ("1.0", "1900-01-01"),
        ("59.5", "1900-02-28"),
        ("61.0", "1900-03-01"),  # after the fictitious 1900-02-29 every serial is one day off
        ("61.25", "1900-03-01"),
        ("2958465.0", "9999-12-31"),
        ("36526.0", "2000-01-01"),
    ],
)
def test_excel_serials_account_for_the_1900_leap_year_bug(raw, expected):
    assert one(normalize_date, raw) == (expected, None)


@pytest.mark.parametrize(
    "raw",
    [
        "60.0",  # Excel's 1900-02-29, which never existed
        "60.5",
        "0.5",
        "2958466.0",
        "61",  # pure digits must have five of them
        "9999",
        "123456",
        "1234567",
        "2024.1",  # a year and a month, not a serial
        "1999.12",
    ],
)
def test_excel_serials_outside_the_accepted_forms_are_errors(raw):
    assert one(normalize_date, raw) == (None, "invalid_date")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("2024/02/29", "2024-02-29"), ("2000/02/29", "2000-02-29"), ("2023/12/31", "2023-12-31")],
)
def test_leap_days_and_month_ends_are_valid(raw, expected):
    assert one(normalize_date, raw) == (expected, None)


@pytest.mark.parametrize(
    "raw",
    [
        "2023/02/30",
        "2023/02/29",
        "1900/02/29",
        "2023/04/31",
        "2023/13/01",
        "2023/00/10",
        "2023/01/00",
        "01/05/2024",  # month-first or day-first: ambiguous
        "05.01.2024",
        "24/1/5",  # two-digit year
        "2024/01",
        "2024-01-0513:45",
        "January 5, 2024",
        "昨日",
        "2024/01/05 25:00",
        "2024/01/05 13:60",
        "2024-01-05T13:45:00+25:00",
        "20240230",
    ],
)
def test_invalid_dates_are_errors(raw):
    assert one(normalize_date, raw) == (None, "invalid_date")


# --------------------------------------------------------------------------------------------
# Date-times
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024/01/05 13:45", "2024-01-05 04:45:00"),
        ("2024/1/5 9:05", "2024-01-05 00:05:00"),
        ("2024-01-05T13:45:00", "2024-01-05 04:45:00"),
        ("2024-01-05 13:45:00", "2024-01-05 04:45:00"),
        ("2024-01-05 13:45:00+09:00", "2024-01-05 04:45:00"),
        ("2024-01-05T13:45:00+0900", "2024-01-05 04:45:00"),
        ("2024-01-05T13:45:00+09", "2024-01-05 04:45:00"),
        ("2024-01-05T04:45:00Z", "2024-01-05 04:45:00"),
        ("2024-01-05 04:45 UTC", "2024-01-05 04:45:00"),
        ("2024-01-05T04:45:00.987Z", "2024-01-05 04:45:00"),  # fractions truncated
        ("2024-01-05 13:45:00-05:00", "2024-01-05 18:45:00"),
        ("2024-01-05", "2024-01-04 15:00:00"),  # a date alone: local midnight
        ("2024/01/05 00:00:00", "2024-01-04 15:00:00"),
        ("令和6年1月5日 13時45分", "2024-01-05 04:45:00"),
        ("2024年1月5日13時45分30秒", "2024-01-05 04:45:30"),
        ("２０２４／０１／０５　１３：４５", "2024-01-05 04:45:00"),
        ("45296.5729166667", "2024-01-05 04:45:00"),  # Excel serial 13:45 JST
        ("45296", "2024-01-04 15:00:00"),
        ("2024-01-01 08:59:59", "2023-12-31 23:59:59"),
    ],
)
def test_datetimes_become_utc(raw, expected):
    assert one(normalize_datetime, raw) == (expected, None)


def test_naive_datetimes_use_the_given_time_zone():
    raw = ["2024/01/05 13:45", "2024-07-01 12:00", "2024-07-01T12:00:00+09:00"]
    assert run(normalize_datetime, raw, time_zone="UTC") == [
        ("2024-01-05 13:45:00", None),
        ("2024-07-01 12:00:00", None),
        ("2024-07-01 03:00:00", None),
    ]
    assert run(normalize_datetime, raw, time_zone="America/New_York") == [
        ("2024-01-05 18:45:00", None),
        ("2024-07-01 16:00:00", None),  # daylight saving time
        ("2024-07-01 03:00:00", None),
    ]


def test_dst_gap_is_an_error_and_dst_fold_takes_the_earlier_instant():
    assert run(
        normalize_datetime, ["2024-03-10 02:30", "2024-11-03 01:30"], time_zone="America/New_York"
    ) == [(None, "invalid_datetime"), ("2024-11-03 05:30:00", None)]


@pytest.mark.parametrize(
    "raw",
    [
        "2024/01/05 24:00",
        "2024/01/05 13:60",
        "2024/01/05 13:45:61",
        "2024-01-05T13:45:00+25:00",
        "2024/02/30 10:00",
        "13:45",
        "2024-01-05 1:45 PM",
        "60.5",
        "平成31年5月1日 10:00",
    ],
)
def test_invalid_datetimes_are_errors(raw):
    assert one(normalize_datetime, raw) == (None, "invalid_datetime")


def test_unknown_time_zone_parameter_raises():
    with pytest.raises(Exception, match="Mars"):
        normalize_datetime(pl.Series(["2024-01-05"]), time_zone="Mars/Base")


# --------------------------------------------------------------------------------------------
# Amounts and integers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1200", "1200"),
        ("1,200", "1200"),
        ("¥1,200", "1200"),
        ("￥1,200", "1200"),
        ("\\1,200", "1200"),  # the yen sign of Shift_JIS files
        ("1,200円", "1200"),
        ("1,200 円", "1200"),
        ("１，２００円", "1200"),
        ("1,234,567", "1234567"),
        ("1200.50", "1200.5"),
        ("1200.00", "1200"),
        ("1.500", "1.5"),  # trailing zeros do not count as decimals
        ("0.99", "0.99"),
        (".99", "0.99"),
        ("001200", "1200"),
        ("0", "0"),
        ("-0", "0"),
        ("-1,200", "-1200"),
        ("－１，２００", "-1200"),
        ("−1,200", "-1200"),  # minus sign
        ("-1200.5", "-1200.5"),
        ("△1,200", "-1200"),  # Japanese accounting minus
        ("▲1,200", "-1200"),
        ("△ 1,200", "-1200"),
        ("(1,200)", "-1200"),
        ("(¥1,200)", "-1200"),
        ("¥-1,200", "-1200"),
        ("-¥1,200", "-1200"),
        ("+1,200", "1200"),
        ("$12.99", "12.99"),
        ("USD 12.99", "12.99"),
        ("JPY1200", "1200"),
    ],
)
def test_amounts_become_canonical_decimals(raw, expected):
    assert one(normalize_amount, raw) == (expected, None)


@pytest.mark.parametrize(
    "raw",
    [
        "12,99",  # comma is never a decimal separator
        "1.234,56",
        "1,2000",
        "1 200",
        "1200.",
        "1,200-",  # trailing minus: negative or "exactly"?
        "(1,200",
        "1,200)",
        "(-1,200)",
        "+-1",
        "--1",
        "¥",
        "円",
        "abc",
        "1e3",
        "1,200円也",
    ],
)
def test_malformed_amounts_are_invalid(raw):
    assert one(normalize_amount, raw) == (None, "invalid_amount")


@pytest.mark.parametrize("raw", ["1.999", "1,234.567", "0.001", "¥1,200.505"])
def test_amounts_with_more_than_two_decimals_are_errors(raw):
    assert one(normalize_amount, raw) == (None, "too_many_decimals")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("3", 3),
        ("３", 3),
        ("1,000", 1000),
        ("１，０００", 1000),
        ("3.0", 3),
        ("3.00", 3),
        ("-5", -5),
        ("△5", -5),
        ("+3", 3),
        ("0", 0),
        ("-0", 0),
        ("007", 7),
        ("9223372036854775807", 9223372036854775807),
    ],
)
def test_integers_are_parsed(raw, expected):
    assert one(normalize_integer, raw) == (expected, None)


@pytest.mark.parametrize(
    "raw", ["3.5", "3.01", "1,00", "1e3", "3.", "(5)", "three", "99999999999999999999", "¥3"]
)
def test_non_integers_are_errors(raw):
    assert one(normalize_integer, raw) == (None, "invalid_integer")


def test_integer_values_are_int64():
    assert normalize_integer(pl.Series(["1", None])).values.dtype == pl.Int64


# --------------------------------------------------------------------------------------------
# Text, names and kana
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  a  b ", "a b"),
        ("東京都\u3000千代田区", "東京都 千代田区"),
        ("a\u3000\u3000b", "a b"),
        ("a\tb\r\nc", "a b c"),
        ("a\u200bb", "ab"),  # zero-width space
        ("\ufeffabc", "abc"),  # byte-order mark from a CSV
        ("ＡＢＣ１２３", "ＡＢＣ１２３"),  # widths are kept in free text
        ("ﾃｽﾄ", "ﾃｽﾄ"),
        ("plain", "plain"),
    ],
)
def test_text_is_trimmed_and_whitespace_collapsed(raw, expected):
    assert one(normalize_text, raw) == (expected, None)


def test_text_longer_than_max_length_is_an_error():
    assert run(normalize_text, ["あいう", "あいうえ", " あいう ", "a  b  "], max_length=3) == [
        ("あいう", None),
        (None, "too_long"),
        ("あいう", None),  # measured after cleanup
        ("a b", None),
    ]


def test_text_without_max_length_is_never_too_long():
    assert one(normalize_text, "x" * 10_000) == ("x" * 10_000, None)


def test_characters_that_skip_nfkc_are_all_nfkc_stable():
    # Cells made only of these characters skip NFKC for speed; that must not change results.
    chars = pl.Series([chr(c) for c in range(1, 0x10000) if not 0xD800 <= c <= 0xDFFF])
    skipped = chars.filter(~chars.str.contains(normalize_module._NFKC_UNSTABLE))
    assert len(skipped) > 20_000  # ASCII, kana, kanji, ...
    assert (skipped.str.normalize("NFKC") == skipped).all()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("山田　太郎", "山田 太郎"),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ タロウ"),
        ("ｶﾞｸﾃﾞﾝ ﾊﾟﾝ", "ガクデン パン"),
        ("ＹＡＭＡＤＡ　Ｔａｒｏ", "YAMADA Taro"),
        ("Yamada  Taro", "Yamada Taro"),
        ("㈱山田商事", "(株)山田商事"),
        ("やまだ", "やまだ"),  # hiragana stays hiragana in names
        ("Rene\u0301e", "Renée"),  # decomposed accent composed
        ("髙橋", "髙橋"),
    ],
)
def test_names_fold_widths(raw, expected):
    assert one(normalize_name, raw) == (expected, None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("やまだ たろう", "ヤマダ タロウ"),
        ("ヤマダ タロウ", "ヤマダ タロウ"),
        ("ﾔﾏﾀﾞ　ﾀﾛｳ", "ヤマダ タロウ"),
        ("ｶﾞｷﾞｸﾞｹﾞｺﾞ", "ガギグゲゴ"),
        ("ﾊﾟﾋﾟﾌﾟﾍﾟﾎﾟ", "パピプペポ"),
        ("ｳﾞｧｲｵﾘﾝ", "ヴァイオリン"),
        ("ゔぁいおりん", "ヴァイオリン"),
        ("う゛ぁ", "ヴァ"),  # stand-alone voiced mark
        ("カ゛", "ガ"),
        ("ハ゜", "パ"),
        ("ヤマダ  \u3000タロウ", "ヤマダ タロウ"),
        ("ぁぃぅぇぉっゃゅょゎ", "ァィゥェォッャュョヮ"),
        ("ゝゞ", "ヽヾ"),
        ("ｽﾐｽ ｼﾞｮﾝ", "スミス ジョン"),
        ("Smith ジョン", "Smith ジョン"),  # other scripts are kept
        ("ﾔﾏﾀﾞｰ", "ヤマダー"),
        ("カ\u3099タカナ", "ガタカナ"),  # decomposed voiced mark
    ],
)
def test_kana_becomes_full_width_katakana(raw, expected):
    assert one(normalize_kana, raw) == (expected, None)


# --------------------------------------------------------------------------------------------
# Addresses
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "100-0001",
        "1000001",
        "〒100-0001",
        "〒 100-0001",
        "〒1000001",
        "100 0001",
        "１００－０００１",
        "〒１００－０００１",
        "100ー0001",
        "100−0001",
    ],
)
def test_japanese_postal_codes_are_formatted(raw):
    assert one(normalize_postal_code, raw) == ("100-0001", None)


@pytest.mark.parametrize(
    "raw", ["100-00011", "12345", "123456", "12345678", "12-34567", "ABC-DEFG", "〒", "100--0001"]
)
def test_japanese_postal_codes_with_wrong_digits_are_errors(raw):
    assert one(normalize_postal_code, raw) == (None, "invalid_postal_code")


@pytest.mark.parametrize(
    ("region", "raw", "expected"),
    [("US", " 94103 ", "94103"), ("GB", "ＳＷ１Ａ　１ＡＡ", "SW1A 1AA"), ("us", "12345", "12345")],
)
def test_other_regions_postal_codes_are_trimmed_text(region, raw, expected):
    assert one(normalize_postal_code, raw, region=region) == (expected, None)


PREFECTURES = normalize_module._PREFECTURES


@pytest.mark.parametrize(("code", "name", "romaji"), PREFECTURES, ids=[p[1] for p in PREFECTURES])
def test_every_prefecture_is_recognised_in_every_spelling(code, name, romaji):
    plain = romaji.replace("ō", "o").replace("Ō", "O").replace("ū", "u")
    spellings = [name, str(code), f"{code:02d}", f"JP-{code:02d}", romaji, plain, plain.upper()]
    if name != "北海道":
        spellings.append(name[:-1])
    suffix = {"都": "-to", "府": "-fu", "県": "-ken", "道": ""}[name[-1]]
    spellings += [plain.lower() + suffix, f"{plain} Prefecture", f"{plain} Pref."]
    assert run(normalize_prefecture, spellings) == [(name, None)] * len(spellings)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Tokyo", "東京都"),
        ("tokyo-to", "東京都"),
        ("TOKYO TO", "東京都"),
        ("Tokyo Metropolis", "東京都"),
        ("Toukyou", "東京都"),
        ("Hokkaidou", "北海道"),
        ("Oosaka-fu", "大阪府"),
        ("Hyougo", "兵庫県"),
        ("Gumma", "群馬県"),
        ("　東京　", "東京都"),
        ("東京都", "東京都"),
        ("California", "California"),  # other regions are kept, not errors
        ("  Île-de-France ", "Île-de-France"),
        ("北海", "北海"),
        ("99", "99"),
    ],
)
def test_prefecture_spellings(raw, expected):
    assert one(normalize_prefecture, raw) == (expected, None)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("東京都千代田区丸の内1-1-1", "東京都"),
        ("京都府京都市中京区", "京都府"),
        ("北海道札幌市中央区", "北海道"),
        ("神奈川県横浜市", "神奈川県"),
        ("和歌山県和歌山市", "和歌山県"),
        ("鹿児島県鹿児島市", "鹿児島県"),
        ("  大阪府大阪市", "大阪府"),
        ("〒100-0001 東京都千代田区", "東京都"),
        ("〒１００－０００１　東京都千代田区", "東京都"),
        ("1000001東京都千代田区", "東京都"),
        ("千代田区丸の内1-1-1", None),
        ("京都市中京区", None),  # no prefecture written
        ("Tokyo, Chiyoda", None),
        ("東京", None),
        ("", None),
        (None, None),
    ],
)
def test_prefecture_from_address(address, expected):
    assert prefecture_from_address(pl.Series("a", [address], dtype=pl.String)).to_list() == [
        expected
    ]


def test_prefecture_from_address_knows_all_47():
    addresses = pl.Series("address", [f"{name}どこか1-2-3" for _, name, _ in PREFECTURES])
    result = prefecture_from_address(addresses)
    assert result.name == "address"
    assert result.to_list() == [name for _, name, _ in PREFECTURES]


# --------------------------------------------------------------------------------------------
# Gender, time zone, tags
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        *[(v, "male") for v in ["男", "男性", "M", "m", "Ｍ", "male", "Male", "MALE", "1", "１"]],
        *[(v, "male") for v in ["おとこ", "オトコ", "man"]],
        *[(v, "female") for v in ["女", "女性", "F", "f", "female", "Female", "2", "おんな"]],
        *[(v, "other") for v in ["その他", "other", "Other", "3", "X", "x"]],
    ],
)
def test_gender_values(raw, expected):
    assert one(normalize_gender, raw) == (expected, None)


@pytest.mark.parametrize("raw", ["不明", "unknown", "Unknown", "0", "9", "未回答", "回答しない"])
def test_unknown_gender_is_blank_without_error(raw):
    assert one(normalize_gender, raw) == (None, None)


@pytest.mark.parametrize("raw", ["?", "男女", "4", "yes", "mr"])
def test_unrecognised_gender_is_an_error(raw):
    assert one(normalize_gender, raw) == (None, "invalid_gender")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Asia/Tokyo", "Asia/Tokyo"),
        ("asia/tokyo", "Asia/Tokyo"),
        (" Asia/Tokyo ", "Asia/Tokyo"),
        ("UTC", "UTC"),
        ("America/New_York", "America/New_York"),
        ("Europe/London", "Europe/London"),
        ("Japan", "Japan"),
    ],
)
def test_valid_time_zones(raw, expected):
    assert one(normalize_time_zone, raw) == (expected, None)


@pytest.mark.parametrize("raw", ["JST", "Mars/Base", "../etc/passwd", "+09:00", "Asia/Tokio"])
def test_invalid_time_zones_are_errors(raw):
    assert one(normalize_time_zone, raw) == (None, "invalid_time_zone")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("VIP", ["VIP"]),
        ("VIP,ゴールド会員", ["VIP", "ゴールド会員"]),
        ("a;b|c/d", ["a", "b", "c", "d"]),
        ("a、b・c", ["a", "b", "c"]),
        ("A，B；C｜D／E", ["A", "B", "C", "D", "E"]),  # full-width separators
        ("a､b･c", ["a", "b", "c"]),  # half-width ideographic comma and middle dot
        ("a\nb\r\nc", ["a", "b", "c"]),
        (" a , b ", ["a", "b"]),
        ("a,,b, ,", ["a", "b"]),
        ("a, b, a, B", ["a", "b", "B"]),  # duplicates dropped, first kept
        (" ゴールド  会員 ", ["ゴールド 会員"]),
        ("ＶＩＰ,VIP", ["VIP"]),
        (",,,", None),
        ("・、", None),
    ],
)
def test_tags_are_split_cleaned_and_deduplicated(raw, expected):
    assert one(normalize_tags, raw) == (expected, None)


def test_tag_values_are_lists_of_strings():
    assert normalize_tags(pl.Series(["a,b", None])).values.dtype == pl.List(pl.String)
