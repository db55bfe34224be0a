"""Roles exist with the right permissions; every page needs a login."""

import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_roles_are_created_by_migrate_and_by_the_command():
    Group.objects.all().delete()
    call_command("roles_setup", stdout=io.StringIO())
    groups = {
        g.name: set(g.permissions.values_list("codename", flat=True)) for g in Group.objects.all()
    }
    assert set(groups) == {"agent", "supervisor", "admin"}
    assert groups["agent"] == {
        "view_customer",
        "view_purchase",
        "view_campaign",
        "view_disposition",
        "view_campaignmember",
        "add_contactattempt",
        "view_contactattempt",
    }
    assert {"add_importjob", "change_segment", "add_donotcontact"} <= groups["supervisor"]
    assert "add_user" in groups["admin"] and "add_user" not in groups["supervisor"]


@pytest.mark.parametrize(
    "path",
    ["/", "/customers/", "/customers/imports/", "/customers/segments/", "/campaigns/", "/admin/"],
)
def test_pages_redirect_anonymous_visitors_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert "login" in response["Location"]


def test_the_login_page_itself_is_public(client):
    assert client.get("/accounts/login/").status_code == 200


def test_agents_land_on_their_work_page(agent_client):
    response = agent_client.get("/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == "/work/"
