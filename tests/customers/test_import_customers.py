"""Customer imports end to end through the services: normalisation, matching, counts, idempotency."""

import pytest

from customers.models import Customer, ImportRowError
from tests.customers.helpers import assert_reconciles, run_import, xlsx_bytes

pytestmark = pytest.mark.django_db

HEADER = "顧客ID,氏名,フリガナ,電話番号,携帯電話,メールアドレス,生年月日,性別,郵便番号,都道府県,住所,会員ランク\n"


def test_a_japanese_list_is_stored_normalised_with_unknown_columns_as_attributes(supervisor):
    text = HEADER + (
        "C001,山田 太郎,ﾔﾏﾀﾞ ﾀﾛｳ,03-1234-5678,０９０－１２３４－５６７８, Taro@Example.CO.JP ,"
        "1980年1月5日,男性,1000005,東京,千代田区丸の内1-1,ゴールド\n"
    )
    job = run_import("customers", text, user=supervisor)

    assert_reconciles(job)
    assert (job.created_count, job.error_count) == (1, 0)
    customer = Customer.objects.get(external_id="C001")
    assert customer.name == "山田 太郎"
    assert customer.name_kana == "ヤマダ タロウ"
    assert customer.phone == "+81312345678"
    assert customer.mobile_phone == "+819012345678"
    assert customer.email == "Taro@example.co.jp"
    assert str(customer.birth_date) == "1980-01-05"
    assert customer.gender == "male"
    assert customer.postal_code == "100-0005"
    assert customer.prefecture == "東京都"
    assert customer.attributes == {"会員ランク": "ゴールド"}
    assert customer.source == "default"


def test_a_bad_row_is_reported_with_row_column_value_and_reason_and_never_blocks_good_rows():
    text = HEADER + (
        "C001,山田 太郎,,03-1234-5678,,,,,,,,\n"
        "C002,佐藤 花子,,12345,,hanako@@example,1985/02/30,,,,,\n"
        "C003,鈴木 一郎,,,090-1111-2222,,,,,,,\n"
    )
    job = run_import("customers", text)

    assert_reconciles(job)
    assert (job.created_count, job.error_count, job.rows_total) == (2, 1, 3)
    assert set(Customer.objects.values_list("external_id", flat=True)) == {"C001", "C003"}
    errors = {
        (e.row_number, e.column, e.value, e.code) for e in ImportRowError.objects.filter(job=job)
    }
    assert errors == {
        (3, "電話番号", "12345", "invalid_phone"),
        (3, "メールアドレス", "hanako@@example", "invalid_email"),
        (3, "生年月日", "1985/02/30", "invalid_date"),
    }
    assert all(e.message for e in ImportRowError.objects.filter(job=job))


def test_reimporting_the_same_file_changes_nothing():
    text = (
        HEADER
        + "C001,山田 太郎,,03-1234-5678,,a@example.jp,,,,,,ゴールド\nC002,佐藤 花子,,,,b@example.jp,,,,,,\n"
    )
    first = run_import("customers", text)
    before = list(Customer.objects.order_by("id").values())

    second = run_import("customers", text)

    assert_reconciles(second)
    assert (second.created_count, second.updated_count, second.unchanged_count) == (0, 0, 2)
    assert first.created_count == 2
    assert list(Customer.objects.order_by("id").values()) == before


def test_cells_of_whitespace_only_are_empty_and_records_of_them_are_skipped():
    # The reader passes such cells on as they are (testing every cell would cost more than
    # the normalisers do); every field must still read them as empty.
    blank = " \u3000 "
    quoted = '""'
    text = HEADER + (
        f"C001,{blank},{blank},{blank},{quoted},{blank},{blank},{blank},{blank},{blank},"
        f"{blank},{blank}\n"
        f"{blank},{blank},{blank},{quoted},{blank},{blank},{blank},{blank},{blank},{blank},"
        f"{blank},{blank}\n"  # nothing but whitespace: not a row
        "C002,山田 太郎,,,,,,,,,,ゴールド\n"
    )
    job = run_import("customers", text)

    assert_reconciles(job)
    assert (job.rows_total, job.created_count, job.error_count) == (2, 2, 0)
    first = Customer.objects.get(external_id="C001")
    assert (first.name, first.name_kana, first.gender, first.postal_code) == ("", "", "", "")
    assert (first.phone, first.mobile_phone, first.email, first.birth_date) == (None,) * 4
    assert (first.prefecture, first.address, first.attributes) == ("", "", {})
    assert Customer.objects.get(external_id="C002").attributes == {"会員ランク": "ゴールド"}

    again = run_import("customers", HEADER + f"C002,{blank},{blank},{blank},,,,,,,,{blank}\n")

    assert (again.unchanged_count, again.error_count) == (1, 0)  # never erases
    second = Customer.objects.get(external_id="C002")
    assert (second.name, second.attributes) == ("山田 太郎", {"会員ランク": "ゴールド"})


def test_a_changed_value_updates_and_an_empty_cell_never_erases():
    run_import("customers", HEADER + "C001,山田 太郎,,03-1234-5678,,a@example.jp,,,,,,ゴールド\n")

    job = run_import("customers", HEADER + "C001,山田 太郎,,,,new@example.jp,,,,,,\n")

    assert_reconciles(job)
    assert (job.created_count, job.updated_count) == (0, 1)
    customer = Customer.objects.get(external_id="C001")
    assert customer.email == "new@example.jp"
    assert customer.phone == "+81312345678"  # empty cell kept the stored number
    assert customer.attributes == {"会員ランク": "ゴールド"}


def test_duplicate_rows_in_one_file_make_one_customer_and_later_values_win():
    text = HEADER + (
        "C001,山田 太郎,,03-1234-5678,,,,,,,,\n"
        "C001,山田 太郎,,03-1234-5678,,,,,,,,\n"  # exact repeat
        "C001,山田 太郎,,,,taro@example.jp,,,,,,\n"  # adds an e-mail
        "C002,佐藤 花子,,,,,,,,,,\n"
    )
    job = run_import("customers", text)

    assert_reconciles(job)
    assert Customer.objects.count() == 2
    assert (job.created_count, job.updated_count, job.unchanged_count) == (2, 1, 1)
    assert job.duplicate_rows == 2
    customer = Customer.objects.get(external_id="C001")
    assert (customer.phone, customer.email) == ("+81312345678", "taro@example.jp")

    again = run_import("customers", text)
    assert (again.created_count, again.updated_count, again.unchanged_count) == (0, 0, 4)


def test_matching_by_phone_and_email_finds_customers_without_an_external_id():
    header = "氏名,携帯電話,メールアドレス\n"
    run_import(
        "customers",
        header + "山田 太郎,090-1234-5678,\n佐藤 花子,,hanako@example.jp\n",
        match_by=["phone", "email"],
    )

    job = run_import(
        "customers",
        header
        + "山田 太郎,09012345678,taro@example.jp\n佐藤 花子,,hanako@example.jp\n新規 客,080-9999-0000,\n",
        match_by=["phone", "email"],
    )

    assert_reconciles(job)
    assert (job.created_count, job.updated_count, job.unchanged_count) == (1, 1, 1)
    assert Customer.objects.count() == 3
    assert Customer.objects.get(mobile_phone="+819012345678").email == "taro@example.jp"


def test_without_phone_matching_the_same_phone_makes_a_new_customer():
    header = "氏名,携帯電話\n"
    run_import("customers", header + "山田 太郎,090-1234-5678\n", match_by=["external_id"])
    job = run_import("customers", header + "山田 太郎,090-1234-5678\n", match_by=["external_id"])
    assert job.created_count == 1
    assert Customer.objects.count() == 2


def test_a_row_without_any_identifier_is_an_error():
    job = run_import("customers", HEADER + ",名無し,,,,,,,,,,\n")
    assert_reconciles(job)
    assert ImportRowError.objects.get(job=job).code == "no_identifier"


def test_dry_run_counts_and_reports_but_writes_nothing():
    text = HEADER + "C001,山田 太郎,,03-1234-5678,,,,,,,,\nC002,佐藤,,bad-phone,,,,,,,,\n"
    job = run_import("customers", text, dry_run=True)

    assert_reconciles(job)
    assert (job.created_count, job.error_count) == (1, 1)
    assert Customer.objects.count() == 0
    assert job.preview[0]["external_id"] == "C001"
    assert job.preview[0]["phone"] == "+81312345678"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932"])
def test_each_encoding_imports_the_same_customers(encoding):
    # 髙 and ① exist only in CP932 (the NEC/IBM extensions Excel writes), not in plain Shift_JIS.
    text = HEADER + "C001,髙橋 一郎,タカハシ イチロウ,03-1234-5678,,,,,,,港区①番館,\n"
    job = run_import("customers", text, encoding=encoding)
    assert_reconciles(job)
    customer = Customer.objects.get(external_id="C001")
    assert (customer.name, customer.address) == ("髙橋 一郎", "港区①番館")


def test_an_xlsx_list_with_excel_typed_cells_is_imported():
    import datetime

    data = xlsx_bytes(
        [
            ["顧客ID", "氏名", "携帯電話", "生年月日"],
            ["C001", "山田 太郎", 9012345678, datetime.datetime(1980, 1, 5)],
            [1002, "佐藤 花子", "080-1111-2222", 29225],
        ]
    )
    job = run_import("customers", data, name="list.xlsx")
    assert_reconciles(job)
    assert job.file_format == "xlsx"
    first = Customer.objects.get(external_id="C001")
    assert (first.mobile_phone, str(first.birth_date)) == ("+819012345678", "1980-01-05")
    assert str(Customer.objects.get(external_id="1002").birth_date) == "1980-01-05"
