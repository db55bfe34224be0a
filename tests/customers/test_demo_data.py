"""The demo / benchmark data generator: shape, determinism, encodings and dirty mode."""

from __future__ import annotations

import codecs
import csv
import re
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import date, datetime
from pathlib import Path

import phonenumbers
import pytest
from email_validator import EmailNotValidError, validate_email

from customers.demo_data import (
    CUSTOMER_HEADER,
    PURCHASE_HEADER,
    GeneratedFiles,
    _Landlines,
    _Mobiles,
    _Permutation,
    _reference,
    _wareki,
    generate,
)

REFERENCE = date(2026, 11, 1)
ROOT = Path(__file__).resolve().parents[2]

LANDLINE = re.compile(r"^0\d{1,3}-\d{2,4}-\d{4}$")
MOBILE = re.compile(r"^0[789]0-[1-9]\d{3}-\d{4}$")
KATAKANA_NAME = re.compile(r"^[ァ-ヶー]+ [ァ-ヶー]+$")


def _read(path: Path, encoding: str = "utf-8") -> tuple[list[str], list[list[str]]]:
    with path.open(encoding=encoding, newline="") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def _dicts(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    with path.open(encoding=encoding, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> GeneratedFiles:
    return generate(tmp_path_factory.mktemp("clean"), customers=5000, purchases=40_000, seed=11)


@pytest.fixture(scope="module")
def clean_customers(clean: GeneratedFiles) -> list[dict[str, str]]:
    return _dicts(clean.customers)


@pytest.fixture(scope="module")
def clean_purchases(clean: GeneratedFiles) -> list[dict[str, str]]:
    return _dicts(clean.purchases)


@pytest.fixture(scope="module")
def dirty(tmp_path_factory: pytest.TempPathFactory) -> GeneratedFiles:
    return generate(
        tmp_path_factory.mktemp("dirty"), customers=3000, purchases=20_000, seed=7, dirty=True
    )


# --- files and counts -------------------------------------------------------------------------


def test_headers_are_exact(clean: GeneratedFiles) -> None:
    assert _read(clean.customers)[0] == list(CUSTOMER_HEADER)
    assert _read(clean.purchases)[0] == list(PURCHASE_HEADER)
    assert CUSTOMER_HEADER == (
        "顧客ID", "氏名", "フリガナ", "性別", "生年月日", "電話番号", "携帯電話", "メールアドレス",
        "郵便番号", "都道府県", "住所", "会員ランク", "興味",
    )  # fmt: skip
    assert PURCHASE_HEADER == (
        "注文番号", "明細番号", "顧客ID", "購入日時", "商品コード", "商品名", "カテゴリ", "数量",
        "単価", "金額",
    )  # fmt: skip


def test_row_counts_are_exact(clean: GeneratedFiles) -> None:
    assert (clean.customers_rows, clean.purchases_rows) == (5000, 40_000)
    assert len(_read(clean.customers)[1]) == 5000
    assert len(_read(clean.purchases)[1]) == 40_000
    assert clean.customers.name == "customers.csv"
    assert clean.purchases.name == "purchases.csv"


def test_lines_end_with_crlf(clean: GeneratedFiles) -> None:
    for path in (clean.customers, clean.purchases):
        data = path.read_bytes()
        assert data.count(b"\r\n") == data.count(b"\n")


@pytest.mark.parametrize(
    ("customers", "purchases"),
    [(0, 0), (1, 0), (1, 1), (1, 3), (1, 50), (2, 1), (3, 2), (10, 4), (10, 100), (40, 7), (7, 29)],
)
def test_exact_counts_for_awkward_sizes(tmp_path: Path, customers: int, purchases: int) -> None:
    files = generate(tmp_path, customers=customers, purchases=purchases)
    _, customer_rows = _read(files.customers)
    _, purchase_rows = _read(files.purchases)
    assert len(customer_rows) == files.customers_rows == customers
    assert len(purchase_rows) == files.purchases_rows == purchases
    ids = {row[0] for row in customer_rows}
    assert all(row[2] in ids for row in purchase_rows)
    assert all(int(row[7]) * int(row[8]) == int(row[9]) for row in purchase_rows)


def test_rejects_impossible_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, customers=0, purchases=1)
    with pytest.raises(ValueError):
        generate(tmp_path, customers=-1, purchases=0)
    with pytest.raises(LookupError):
        generate(tmp_path, customers=1, purchases=1, encoding="no-such-codec")


def test_same_seed_gives_same_bytes(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", customers=800, purchases=5000, seed=3, dirty=True)
    second = generate(tmp_path / "b", customers=800, purchases=5000, seed=3, dirty=True)
    other = generate(tmp_path / "c", customers=800, purchases=5000, seed=4, dirty=True)
    assert first.customers.read_bytes() == second.customers.read_bytes()
    assert first.purchases.read_bytes() == second.purchases.read_bytes()
    assert first.customers.read_bytes() != other.customers.read_bytes()
    assert first.purchases.read_bytes() != other.purchases.read_bytes()
    assert not list((tmp_path / "a").glob("*.part"))


# --- customers ----------------------------------------------------------------------------------


def test_customer_ids_are_unique_and_formatted(clean_customers: list[dict[str, str]]) -> None:
    ids = [row["顧客ID"] for row in clean_customers]
    assert len(set(ids)) == len(ids)
    assert ids[0] == "C0000001"
    assert all(re.fullmatch(r"C\d{7}", value) for value in ids)


def test_names_and_kana(clean_customers: list[dict[str, str]]) -> None:
    reference = _reference()
    assert len(reference["surnames"]) >= 100
    assert sum(len(era) for era in reference["male"]) >= 100
    assert sum(len(era) for era in reference["female"]) >= 100
    kana_of = {name.kanji: name.kana for name in reference["surnames"]}
    for row in clean_customers:
        surname, given = row["氏名"].split(" ")
        assert KATAKANA_NAME.match(row["フリガナ"]), row["フリガナ"]
        assert row["フリガナ"].split(" ")[0] == kana_of[surname]
        assert given
    surnames = Counter(row["氏名"].split(" ")[0] for row in clean_customers)
    assert len(surnames) >= 80
    assert surnames["佐藤"] > surnames["本田"]  # weighted by frequency


def test_gender_and_birth_dates(clean_customers: list[dict[str, str]]) -> None:
    genders = Counter(row["性別"] for row in clean_customers)
    assert set(genders) == {"男性", "女性", "その他", ""}
    assert genders["男性"] > 1500 and genders["女性"] > 1500
    for row in clean_customers:
        born = datetime.strptime(row["生年月日"], "%Y/%m/%d").date()
        assert date(1940, 1, 1) <= born <= date(2006, 12, 31)
        assert re.fullmatch(r"\d{4}/\d{2}/\d{2}", row["生年月日"])


def test_phones_are_valid_unique_and_match_the_prefecture(
    clean_customers: list[dict[str, str]],
) -> None:
    n = len(clean_customers)
    landlines = [row["電話番号"] for row in clean_customers if row["電話番号"]]
    mobiles = [row["携帯電話"] for row in clean_customers if row["携帯電話"]]
    assert 0.5 < len(landlines) / n < 0.7
    assert 0.78 < len(mobiles) / n < 0.92
    assert len(set(mobiles)) == len(mobiles)
    for number in landlines:
        assert LANDLINE.match(number), number
    for number in mobiles:
        assert MOBILE.match(number), number
    for number in landlines + mobiles:
        assert phonenumbers.is_valid_number(phonenumbers.parse(number, "JP")), number
    expected = {"03": {"東京都"}, "06": {"大阪府", "兵庫県"}, "052": {"愛知県"}}
    expected |= {"011": {"北海道"}, "092": {"福岡県"}, "075": {"京都府"}, "045": {"神奈川県"}}
    seen = set()
    for row in clean_customers:
        area = row["電話番号"].split("-")[0]
        if area in expected:
            assert row["都道府県"] in expected[area], (area, row["都道府県"])
            seen.add(area)
    assert {"03", "06", "052"} <= seen
    # A landline repeats only within a household: same surname and address.
    households = defaultdict(set)
    for row in clean_customers:
        if row["電話番号"]:
            households[row["電話番号"]].add((row["氏名"].split(" ")[0], row["住所"]))
    assert all(len(members) == 1 for members in households.values())
    assert len(households) > 0.97 * len(landlines)


def test_every_city_gets_valid_numbers_of_the_right_type() -> None:
    landlines, mobiles = _Landlines(seed=1), _Mobiles(seed=1)
    fixed = phonenumbers.PhoneNumberType.FIXED_LINE
    for city in (city for group in _reference()["cities"] for city in group):
        for _ in range(20):
            number = landlines.next(city.area_code)
            assert number.startswith(city.area_code + "-")
            parsed = phonenumbers.parse(number, "JP")
            assert phonenumbers.is_valid_number(parsed), (city, number)
            assert phonenumbers.number_type(parsed) == fixed, number
    numbers = [mobiles.next() for _ in range(2000)]
    assert len(set(numbers)) == len(numbers)
    for number in numbers:
        parsed = phonenumbers.parse(number, "JP")
        assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE, number


def test_emails_are_valid_unique_and_plausible(clean_customers: list[dict[str, str]]) -> None:
    emails = [row["メールアドレス"] for row in clean_customers if row["メールアドレス"]]
    assert 0.72 < len(emails) / len(clean_customers) < 0.88
    assert len(set(emails)) == len(emails)
    domains = Counter(email.split("@")[1] for email in emails)
    assert {"gmail.com", "yahoo.co.jp", "docomo.ne.jp", "icloud.com"} <= set(domains)
    assert any(domain.endswith(".co.jp") and domain != "yahoo.co.jp" for domain in domains)
    for email in emails:
        assert email == email.strip().lower()
        try:
            validate_email(email, check_deliverability=False)
        except EmailNotValidError as error:  # pragma: no cover - message on failure
            pytest.fail(f"{email}: {error}")


def test_addresses_prefectures_and_ranks(clean_customers: list[dict[str, str]]) -> None:
    prefectures = Counter(row["都道府県"] for row in clean_customers)
    assert len(prefectures) == 47
    assert prefectures.most_common(1)[0][0] == "東京都"
    cities = {city.name: city.prefecture for group in _reference()["cities"] for city in group}
    for row in clean_customers:
        assert re.fullmatch(r"\d{3}-\d{4}", row["郵便番号"])
        city = next(name for name in cities if row["住所"].startswith(name))
        assert cities[city] == row["都道府県"]
        assert re.search(r" \d+-\d+-\d+", row["住所"])
    ranks = Counter(row["会員ランク"] for row in clean_customers)
    assert set(ranks) == {"一般", "シルバー", "ゴールド", "プラチナ"}
    assert ranks["一般"] > ranks["シルバー"] > ranks["ゴールド"] > ranks["プラチナ"]
    tags = Counter(tag for row in clean_customers for tag in row["興味"].split("、") if tag)
    assert len(tags) >= 10


# --- purchases ----------------------------------------------------------------------------------


def test_purchases_reference_customers_and_amounts_add_up(
    clean_customers: list[dict[str, str]], clean_purchases: list[dict[str, str]]
) -> None:
    ids = {row["顧客ID"] for row in clean_customers}
    for row in clean_purchases:
        assert row["顧客ID"] in ids
        quantity, price, amount = int(row["数量"]), int(row["単価"]), int(row["金額"])
        assert quantity >= 1 and price > 0
        assert amount == quantity * price


def test_orders_have_one_to_three_numbered_lines(clean_purchases: list[dict[str, str]]) -> None:
    orders: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in clean_purchases:
        orders[row["注文番号"]].append(row)
    sizes = Counter(len(lines) for lines in orders.values())
    assert set(sizes) == {1, 2, 3}
    for lines in orders.values():
        assert [int(line["明細番号"]) for line in lines] == list(range(1, len(lines) + 1))
        assert len({(line["顧客ID"], line["購入日時"]) for line in lines}) == 1


def test_purchase_dates_are_in_range_and_chronological(
    clean_purchases: list[dict[str, str]],
) -> None:
    start = datetime(2021, 11, 1)
    end = datetime(2026, 11, 1)
    times = [datetime.strptime(row["購入日時"], "%Y/%m/%d %H:%M") for row in clean_purchases]
    assert all(start <= moment < end for moment in times)
    assert times == sorted(times)
    assert min(times) < datetime(2022, 1, 1) and max(times) > datetime(2026, 10, 1)
    assert all(
        re.fullmatch(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}", row["購入日時"]) for row in clean_purchases
    )


def test_product_catalogue(clean_purchases: list[dict[str, str]]) -> None:
    products = {
        (row["商品コード"], row["商品名"], row["カテゴリ"], row["単価"]) for row in clean_purchases
    }
    assert len({code for code, *_ in products}) >= 60
    assert len(products) == len({code for code, *_ in products})  # one name and price per code
    categories = {category for _, _, category, _ in products}
    assert {"食品", "飲料", "化粧品", "健康食品", "家電", "衣料", "雑貨", "ギフト"} <= categories
    assert {"ペット用品", "書籍"} <= categories


def test_customer_segments_have_the_specified_shares(
    clean_customers: list[dict[str, str]], clean_purchases: list[dict[str, str]]
) -> None:
    last: dict[str, datetime] = {}
    orders: dict[str, set[str]] = defaultdict(set)
    revenue: Counter[str] = Counter()
    for row in clean_purchases:
        moment = datetime.strptime(row["購入日時"], "%Y/%m/%d %H:%M")
        customer = row["顧客ID"]
        last[customer] = max(last.get(customer, moment), moment)
        orders[customer].add(row["注文番号"])
        revenue[customer] += int(row["金額"])
    buyers = len(last)
    no_purchase = 1 - buyers / len(clean_customers)
    assert 0.06 < no_purchase < 0.14
    one_time = sum(len(numbers) == 1 for numbers in orders.values()) / buyers
    assert 0.28 < one_time < 0.42
    reference = datetime(2026, 11, 1)
    ages = [(reference - moment).days for moment in last.values()]
    dormant = sum(age > 365 for age in ages) / buyers
    lapsing = sum(180 < age <= 365 for age in ages) / buyers
    assert 0.24 < dormant < 0.36
    assert 0.10 < lapsing < 0.20
    amounts = sorted(revenue.values(), reverse=True)
    top_share = sum(amounts[: len(amounts) // 5]) / sum(amounts)
    assert 0.6 < top_share < 0.8


def test_seasonality(clean_purchases: list[dict[str, str]]) -> None:
    months = Counter(int(row["購入日時"][5:7]) for row in clean_purchases)
    assert months[12] > 1.5 * months[2]
    assert months[7] > 1.5 * months[2]
    assert months[12] + months[7] > months[2] * 3
    assert months[3] > months[2]
    gifts = Counter(int(r["購入日時"][5:7]) for r in clean_purchases if r["カテゴリ"] == "ギフト")
    assert gifts[7] > 2 * gifts[4] and gifts[12] > 2 * gifts[4]


# --- encodings ----------------------------------------------------------------------------------


def test_cp932_output(tmp_path: Path) -> None:
    files = generate(tmp_path, customers=1500, purchases=6000, encoding="cp932", dirty=True)
    for path in (files.customers, files.purchases):
        data = path.read_bytes()
        text = data.decode("cp932")  # strict: fails on anything that is not Shift_JIS
        with pytest.raises(UnicodeDecodeError):
            data.decode("utf-8")
        assert text.startswith(("顧客ID,", "注文番号,"))
    assert "￥" in files.purchases.read_bytes().decode("cp932")  # cp932 has no U+00A5


def test_utf8_sig_has_a_bom(tmp_path: Path) -> None:
    files = generate(tmp_path, customers=20, purchases=50, encoding="utf-8-sig")
    for path in (files.customers, files.purchases):
        assert path.read_bytes().startswith(codecs.BOM_UTF8)
    assert _read(files.customers, "utf-8-sig")[0] == list(CUSTOMER_HEADER)


# --- dirty mode ---------------------------------------------------------------------------------


def test_clean_mode_is_canonical(
    clean_customers: list[dict[str, str]], clean_purchases: list[dict[str, str]]
) -> None:
    for row in clean_customers:
        assert not row["電話番号"] or LANDLINE.match(row["電話番号"])
        assert not row["携帯電話"] or MOBILE.match(row["携帯電話"])
        assert re.fullmatch(r"\d{4}/\d{2}/\d{2}", row["生年月日"])
    for row in clean_purchases:
        assert row["単価"].isdigit() and row["金額"].isdigit()


def test_dirty_mode_contains_each_kind_of_mess(dirty: GeneratedFiles) -> None:
    header, rows = _read(dirty.customers)
    assert header == list(CUSTOMER_HEADER)
    assert len(rows) == dirty.customers_rows
    ids = Counter(row[0] for row in rows)
    assert len(ids) == 3000  # every customer once, some rows twice
    duplicates = sum(count - 1 for count in ids.values())
    assert dirty.customers_rows == 3000 + duplicates
    assert 5 <= duplicates <= 30  # ~0.5 %
    by_id = defaultdict(list)
    for row in rows:
        by_id[row[0]].append(row)
    assert all(r == group[0] for group in by_id.values() for r in group)  # exact duplicates

    phones = [value for row in rows for value in (row[5], row[6]) if value]
    assert any(re.fullmatch(r"０[７８９]０－[０-９]{4}－[０-９]{4}", p) for p in phones)
    assert any(re.fullmatch(r"0[789]0\d{8}|0\d{9}", p) for p in phones)
    assert any(re.fullmatch(r"\d{5}", p) for p in phones)  # invalid: "12345"
    emails = [row[7] for row in rows if row[7]]
    assert any(e != e.strip() and e.split("@")[1].strip().isupper() for e in emails)
    assert any("@@" in e for e in emails)
    dates = [row[4] for row in rows]
    assert any(re.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日", d) for d in dates)
    assert any(re.fullmatch(r"[SH]\d{1,2}\.\d{1,2}\.\d{1,2}", d) for d in dates)
    assert any(re.fullmatch(r"\d{4}/(02/3[01]|04/31|06/31|13/01)", d) for d in dates)

    messy = sum(
        1
        for row in rows
        if not re.fullmatch(r"\d{4}/\d{2}/\d{2}", row[4])
        or (row[5] and not LANDLINE.match(row[5]))
        or (row[6] and not MOBILE.match(row[6]))
        or (row[7] and row[7] != row[7].strip().lower())
    )
    assert 0.005 < (messy + duplicates) / len(rows) < 0.03

    purchase_header, purchases = _read(dirty.purchases)
    assert purchase_header == list(PURCHASE_HEADER)
    assert len(purchases) == dirty.purchases_rows == 20_000
    amounts = [row[9] for row in purchases]
    assert any(re.fullmatch(r"¥\d{1,3}(,\d{3})*", a) for a in amounts)
    assert any(re.fullmatch(r"\d{1,3}(,\d{3})*円", a) for a in amounts)
    assert any(a in ("abc", "#VALUE!") for a in amounts)
    messy_amounts = sum(not a.isdigit() for a in amounts) / len(amounts)
    assert 0.005 < messy_amounts < 0.025
    for row in purchases:  # messy but still consistent where it parses
        amount = re.sub(r"[¥,円]", "", row[9])
        if amount.isdigit():
            assert int(amount) == int(row[7]) * int(re.sub(r"[¥,円]", "", row[8]))


def test_dirty_customer_ids_still_cover_purchases(dirty: GeneratedFiles) -> None:
    ids = {row[0] for row in _read(dirty.customers)[1]}
    assert all(row[2] in ids for row in _read(dirty.purchases)[1])


# --- helpers and CLI ------------------------------------------------------------------------------


def test_wareki() -> None:
    assert _wareki(date(1985, 4, 12)) == "S60.4.12"
    assert _wareki(date(1989, 1, 7)) == "S64.1.7"
    assert _wareki(date(1989, 1, 8)) == "H1.1.8"
    assert _wareki(date(2006, 12, 31)) == "H18.12.31"


@pytest.mark.parametrize("size", [1, 2, 7, 100, 1000, 4097])
def test_permutation_is_a_bijection(size: int) -> None:
    permutation = _Permutation(size, key=12345)
    assert sorted(permutation(x) for x in range(size)) == list(range(size))


def test_cli(tmp_path: Path) -> None:
    out = tmp_path / "out"
    options = ["--customers", "50", "--purchases", "120", "--seed", "5", "--encoding", "cp932"]
    result = subprocess.run(
        [sys.executable, "bench/generate.py", *options, "--out", str(out), "--dirty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(out / "customers.csv") in result.stdout
    assert str(out / "purchases.csv") in result.stdout
    assert "(120 rows)" in result.stdout
    assert (out / "customers.csv").read_bytes().decode("cp932").startswith("顧客ID")
