"""A supervisor imports a customer list through the pages, in a real browser; others are kept out."""

import re

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from playwright.sync_api import expect

from config.roles import ADMIN, AGENT, SUPERVISOR
from customers.models import Customer, ImportJob
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser

HEADER = "顧客ID,氏名,フリガナ,携帯電話,メールアドレス,生年月日,会員ランク"
ROWS = [
    "B001,山田 太郎,ヤマダ タロウ,０９０－１２３４－５６７８,taro@example.jp,1980/04/01,ゴールド",
    "B002,佐藤 花子,サトウ ハナコ,080-2345-6789,hanako@example.jp,1975年12月3日,シルバー",
    "B003,鈴木 一郎,スズキ イチロウ,+81 70 3456 7890,ichiro@example.jp,1990-07-15,ブロンズ",
    "B004,高橋 次郎,タカハシ ジロウ,12345,x@@y,1985/01/01,ゴールド",  # row 5 in the file: rejected
]


def _mapping_select(page, header: str):
    row = page.locator("#mapping-form tbody tr").filter(
        has=page.locator("td:first-child", has_text=re.compile(f"^{re.escape(header)}$"))
    )
    return row.locator("select")


def _submit_mapping(page, action: str) -> None:
    form = page.locator("#mapping-form")
    # A required-but-empty field makes the browser refuse to submit (no request is sent at all).
    invalid = form.locator(":invalid").evaluate_all("els => els.map(e => e.name)")
    assert invalid == [], (
        f"the browser will not submit the mapping form with {action!r}: fields {invalid} are"
        " invalid (e.g. required but empty) and the button has no formnovalidate"
    )
    with page.expect_navigation():
        form.locator(f"button[name=action][value={action}]").click()


def _wait_for_finished_run(page, *, dry_run: bool) -> None:
    progress = page.locator("#import-progress")
    # The page either shows the result after the redirect or polls and reloads (HX-Refresh) when done.
    expect(progress.locator(".tag")).to_have_count(1 if dry_run else 0)
    expect(progress).to_have_attribute("data-state", "succeeded", timeout=20_000)


def test_role_groups_survive_the_flush_after_each_live_server_test(transactional_db):
    # live_server tests are transactional: Django flushes every table after each one (with
    # post_migrate, since available_apps is unset), and outreach's post_migrate handler puts the
    # groups back. Without that the `supervisor` / `agent` fixtures of the next test would fail.
    call_command("flush", interactive=False, verbosity=0)
    assert set(Group.objects.values_list("name", flat=True)) >= {AGENT, SUPERVISOR, ADMIN}


def test_supervisor_uploads_checks_and_imports_a_customer_list(
    page, live_server, supervisor, tmp_path, artifacts
):
    csv_path = tmp_path / "会員リスト.csv"
    csv_path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")

    log_in(page, live_server, supervisor.username)

    # Upload.
    page.goto(f"{live_server.url}/customers/imports/")
    page.locator("#id_kind").select_option("customers")
    page.locator("#id_file").set_input_files(csv_path)
    with page.expect_navigation():
        page.locator("form.grid-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/customers/imports/\d+/$"))
    job_url = page.url
    job = ImportJob.objects.get()
    assert job_url.endswith(f"/customers/imports/{job.pk}/")
    expect(page.locator("#import-progress")).to_have_attribute("data-state", "uploaded")

    # The automatic mapping, as the selects show it.
    expect(_mapping_select(page, "顧客ID")).to_have_value("external_id")
    expect(_mapping_select(page, "携帯電話")).to_have_value("mobile_phone")
    expect(_mapping_select(page, "メールアドレス")).to_have_value("email")
    expect(_mapping_select(page, "会員ランク")).to_have_value("attr:会員ランク")

    # Dry run: preview and errors, nothing written.
    _submit_mapping(page, "dry_run")
    _wait_for_finished_run(page, dry_run=True)
    expect(page.locator("#count-created")).to_have_text("3")
    expect(page.locator("#count-errors")).to_have_text("1")
    preview = page.locator("#preview")
    expect(preview).to_contain_text("+819012345678")
    expect(preview).to_contain_text("山田 太郎")
    bad_phone = page.locator("#errors tbody tr").filter(has_text="12345")
    expect(bad_phone).to_have_count(1)
    expect(bad_phone.locator("td").first).to_have_text("5")
    expect(bad_phone).to_contain_text("携帯電話")
    assert Customer.objects.count() == 0
    page.screenshot(path=artifacts / "import-dry-run-ja.png", full_page=True)

    # The real import.
    _submit_mapping(page, "import")
    _wait_for_finished_run(page, dry_run=False)
    expect(page.locator("#count-created")).to_have_text("3")
    expect(page.locator("#count-errors")).to_have_text("1")
    job.refresh_from_db()
    assert (job.dry_run, job.created_count, job.error_count, job.rows_total) == (False, 3, 1, 4)
    assert set(Customer.objects.values_list("external_id", flat=True)) == {"B001", "B002", "B003"}
    assert Customer.objects.get(external_id="B001").mobile_phone == "+819012345678"

    # Screenshots of the job page, in Japanese then in English (switched in the header).
    page.goto(job_url)
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.locator(".topbar")).to_contain_text("ログアウト")
    page.screenshot(path=artifacts / "import-detail-ja.png", full_page=True)
    with page.expect_navigation():
        page.locator(".topbar select[name=language]").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page).to_have_url(job_url)
    expect(page.locator(".topbar")).to_contain_text("Log out")
    expect(page.get_by_role("button", name="Import", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Column mapping")).to_be_visible()
    page.screenshot(path=artifacts / "import-detail-en.png", full_page=True)

    # The customer list shows the three imported customers.
    page.goto(f"{live_server.url}/customers/")
    rows = page.locator("#customers tbody tr")
    expect(rows).to_have_count(3)
    for external_id, name in [("B001", "山田 太郎"), ("B002", "佐藤 花子"), ("B003", "鈴木 一郎")]:
        expect(rows.filter(has_text=external_id)).to_contain_text(name)
    expect(page.locator("#customers")).not_to_contain_text("B004")
    page.screenshot(path=artifacts / "customer-list.png", full_page=True)


def test_imports_page_is_refused_to_agents_and_anonymous_visitors(page, live_server, agent):
    imports_url = f"{live_server.url}/customers/imports/"

    response = page.goto(imports_url)
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/customers/imports/$"))
    assert response is not None and response.status == 200
    expect(page.locator("input[name=username]")).to_be_visible()

    log_in(page, live_server, agent.username)
    response = page.goto(imports_url)
    assert response is not None and response.status == 403
    expect(page.locator("body")).to_contain_text("403")
    expect(page.locator("#import-jobs")).to_have_count(0)
