"""Finding a customer the way a supervisor writes the number or address down."""

import pytest
from django.urls import reverse

from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def taro():
    return CustomerFactory(
        name="山田 太郎",
        phone="+81312345678",
        mobile_phone="+819012345678",
        email="Taro@example.jp",
    )


@pytest.fixture
def other():
    return CustomerFactory(name="佐藤 花子", phone="+81398765432", email="hanako@example.jp")


@pytest.mark.parametrize(
    "typed",
    [
        "090-1234-5678",
        "０９０－１２３４－５６７８",
        "+81 90 1234 5678",
        "03-1234-5678",
        "Taro@Example.JP",
    ],
)
def test_the_customer_list_finds_a_phone_or_email_as_written(supervisor_client, taro, other, typed):
    page = supervisor_client.get(reverse("customers:customer-list"), {"q": typed})

    assert page.status_code == 200
    listed = list(page.context["customers"].object_list)
    assert listed == [taro]


def test_the_api_finds_a_phone_as_written(api_client, taro, other):
    response = api_client.get("/api/customers/", {"q": "090 1234 5678"})

    assert [row["id"] for row in response.data["results"]] == [taro.pk]


def test_names_and_ids_are_still_found_and_nothing_else(supervisor_client, taro, other):
    def found(typed):
        page = supervisor_client.get(reverse("customers:customer-list"), {"q": typed})
        return list(page.context["customers"].object_list)

    assert found("山田") == [taro]
    assert found(taro.external_id) == [taro]
    assert found("090-0000-0000") == []


def test_the_admin_finds_a_phone_as_written(admin_client, taro, other):
    page = admin_client.get(reverse("admin:customers_customer_changelist"), {"q": "090-1234-5678"})

    assert list(page.context["cl"].result_list) == [taro]


@pytest.mark.postgres_only
def test_a_phone_or_email_search_is_served_by_the_lookup_indexes(postgres):
    from django.db import connection

    from customers.filters import customer_search_q
    from customers.models import Customer

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    phone_plan = Customer.objects.filter(customer_search_q("090-1234-5678")).explain()
    email_plan = Customer.objects.filter(customer_search_q("Taro@Example.JP")).explain()

    assert "customer_mobile_idx" in phone_plan and "customer_phone_idx" in phone_plan
    assert "customer_email_idx" in email_plan
    assert "Seq Scan" not in phone_plan + email_plan
