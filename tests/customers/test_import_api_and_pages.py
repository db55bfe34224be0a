"""The import through its API and pages: upload, mapping, templates, status, errors, permissions."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import TestCase
from django.urls import reverse

from customers.models import Customer, ImportJob, ImportTemplate

pytestmark = pytest.mark.django_db

CSV = "顧客ID,氏名,携帯電話,メールアドレス,会員ランク\nC001,山田 太郎,090-1234-5678,taro@example.jp,ゴールド\nC002,佐藤,123,x@@y,\n"


def _upload(name="list.csv", data=CSV.encode()):
    return SimpleUploadedFile(name, data)


def test_api_upload_suggests_a_mapping_then_runs_and_reports(api_client):
    response = api_client.post(
        "/api/customers/imports/", {"kind": "customers", "file": _upload()}, format="multipart"
    )
    assert response.status_code == 201, response.data
    job = response.data
    assert job["headers"] == ["顧客ID", "氏名", "携帯電話", "メールアドレス", "会員ランク"]
    assert job["mapping"]["携帯電話"] == "mobile_phone"
    assert job["mapping"]["会員ランク"] == "attr:会員ランク"
    assert job["encoding"] == "utf-8"

    mapping = dict(job["mapping"], 会員ランク="attr:rank")
    response = api_client.post(
        f"/api/customers/imports/{job['id']}/mapping/", {"mapping": mapping}, format="json"
    )
    assert response.status_code == 200

    with TestCase.captureOnCommitCallbacks(execute=True):
        response = api_client.post(
            f"/api/customers/imports/{job['id']}/start/", {"dry_run": False}, format="json"
        )
    assert response.status_code == 202

    status = api_client.get(f"/api/customers/imports/{job['id']}/").data
    assert status["state"] == "succeeded"
    assert (status["rows_total"], status["created_count"], status["error_count"]) == (2, 1, 1)
    assert status["counts_reconcile"] is True
    assert Customer.objects.get(external_id="C001").attributes == {"rank": "ゴールド"}

    errors = api_client.get(f"/api/customers/imports/{job['id']}/errors/").data
    assert errors["count"] == 2
    assert {e["code"] for e in errors["results"]} == {"invalid_phone", "invalid_email"}
    assert (
        api_client.get(f"/api/customers/imports/{job['id']}/errors/?code=invalid_email").data[
            "count"
        ]
        == 1
    )


def test_api_refuses_a_mapping_with_an_unknown_field_with_a_specific_message(api_client):
    job = api_client.post(
        "/api/customers/imports/", {"kind": "customers", "file": _upload()}, format="multipart"
    ).data
    response = api_client.post(
        f"/api/customers/imports/{job['id']}/mapping/",
        {"mapping": {"氏名": "nickname"}},
        format="json",
    )
    assert response.status_code == 400
    assert "nickname" in str(response.data)


@pytest.mark.parametrize(
    ("name", "data", "phrase"),
    [
        ("list.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, ".xls"),
        ("list.csv", b"%PDF-1.7\n\0\0\0binary", "not"),
        ("list.csv", b"", "empty"),
    ],
)
def test_api_refuses_a_malformed_file_with_a_clear_error(api_client, name, data, phrase):
    response = api_client.post(
        "/api/customers/imports/",
        {"kind": "customers", "file": _upload(name, data)},
        format="multipart",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert phrase.lower() in str(response.data["file"]).lower()
    assert ImportJob.objects.count() == 0


def test_the_refusal_speaks_japanese_by_default(api_client):
    data = b"%PDF-1.7\n\0\0\0binary"
    response = api_client.post(
        "/api/customers/imports/",
        {"kind": "customers", "file": _upload("a.csv", data)},
        format="multipart",
    )
    assert response.status_code == 400
    assert "PDF ファイル" in str(response.data["file"])


def test_a_saved_template_maps_the_next_upload(api_client):
    job = api_client.post(
        "/api/customers/imports/", {"kind": "customers", "file": _upload()}, format="multipart"
    ).data
    mapping = dict(job["mapping"], 会員ランク="")
    api_client.post(
        f"/api/customers/imports/{job['id']}/mapping/", {"mapping": mapping}, format="json"
    )
    response = api_client.post(
        "/api/customers/import-templates/",
        {"job": job["id"], "name": "基幹システム"},
        format="json",
    )
    assert response.status_code == 201
    template = ImportTemplate.objects.get(name="基幹システム")

    second = api_client.post(
        "/api/customers/imports/",
        {"kind": "customers", "file": _upload(), "template": template.pk},
        format="multipart",
    ).data
    assert second["mapping"]["会員ランク"] == ""


def test_errors_download_is_csv_safe_against_formula_injection(api_client):
    data = '顧客ID,携帯電話\nC001,=HYPERLINK("http://x")\n'.encode()
    job = api_client.post(
        "/api/customers/imports/",
        {"kind": "customers", "file": _upload(data=data)},
        format="multipart",
    ).data
    with TestCase.captureOnCommitCallbacks(execute=True):
        api_client.post(f"/api/customers/imports/{job['id']}/start/", {}, format="json")
    response = api_client.get(f"/api/customers/imports/{job['id']}/errors/?download=csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert response["Content-Type"].startswith("text/csv")
    assert "'=HYPERLINK" in body
    assert "\n=HYPERLINK" not in body and ",=HYPERLINK" not in body


def test_agents_get_403_and_anonymous_callers_are_refused(agent_client, client):
    assert agent_client.get("/api/customers/imports/").status_code == 403
    assert agent_client.get("/api/customers/").status_code == 403
    assert agent_client.get(reverse("customers:import-list")).status_code == 403
    agent_client.logout()
    assert client.get("/api/customers/imports/").status_code in (401, 403)
    page = client.get(reverse("customers:import-list"))
    assert page.status_code == 302 and "/accounts/login/" in page["Location"]


def test_upload_page_runs_a_dry_run_and_then_the_import(supervisor_client):
    response = supervisor_client.post(
        reverse("customers:import-list"), {"kind": "customers", "file": _upload(), "source": "shop"}
    )
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse(
        "customers:import-detail", args=[job.pk]
    )

    page = supervisor_client.get(response["Location"])
    assert page.status_code == 200
    form_data = {f"col_{i}": job.mapping[header] for i, header in enumerate(job.headers)}
    form_data.update({"source": "shop", "match_by": ["external_id"], "action": "dry_run"})
    with TestCase.captureOnCommitCallbacks(execute=True):
        supervisor_client.post(reverse("customers:import-detail", args=[job.pk]), form_data)
    job.refresh_from_db()
    assert (job.state, job.dry_run, job.created_count) == ("succeeded", True, 1)
    assert Customer.objects.count() == 0
    page = supervisor_client.get(reverse("customers:import-detail", args=[job.pk])).content.decode()
    assert "山田 太郎" in page  # preview row
    assert "123" in page  # error row value

    form_data["action"] = "import"
    with TestCase.captureOnCommitCallbacks(execute=True):
        supervisor_client.post(reverse("customers:import-detail", args=[job.pk]), form_data)
    assert Customer.objects.get().source == "shop"
    progress = supervisor_client.get(
        reverse("customers:import-progress", args=[job.pk]) + "?poll=1"
    )
    assert progress["HX-Refresh"] == "true"
    assert (
        supervisor_client.get(reverse("customers:import-errors-csv", args=[job.pk])).status_code
        == 200
    )
    assert supervisor_client.get(reverse("customers:customer-list") + "?q=C001").status_code == 200
