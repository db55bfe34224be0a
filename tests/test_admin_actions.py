"""Admin: every model registered and its changelist loading; reassigning members to an agent;
adding customers to the do-not-contact list (same service as a do-not-contact outcome); the
read-only audit log of admin changes, for admins only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from campaigns.models import CampaignState
from config.roles import ADMIN, SUPERVISOR
from customers.models import DoNotContact
from outreach.assignment import members_reassign
from outreach.models import CampaignMember, CloseReason, MemberStatus
from outreach.outcomes import customer_do_not_contact_add
from tests.factories import CampaignFactory, CustomerFactory, TeamFactory, agent_on

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english_site")]

OUR_APPS = ("customers", "campaigns", "outreach")


def _staff(username: str, role: str):
    user = get_user_model().objects.create_user(
        username=username, password="pass-1234-word", is_staff=True
    )
    user.groups.add(Group.objects.get(name=role))
    return user


def _member(campaign, customer=None, status=MemberStatus.QUEUED, **fields) -> CampaignMember:
    claim = {}
    if status == MemberStatus.CLAIMED:
        claim = {
            "claimed_by": fields.pop("claimed_by"),
            "claimed_at": timezone.now(),
            "claim_expires_at": timezone.now() + timedelta(minutes=10),
        }
    return CampaignMember.objects.create(
        campaign=campaign,
        customer=customer or CustomerFactory(),
        group="treatment",
        status=status,
        due_at=timezone.now(),
        **claim,
        **fields,
    )


@pytest.fixture
def team():
    return TeamFactory()


@pytest.fixture
def campaign(team):
    campaign = CampaignFactory(state=CampaignState.RUNNING)
    team.campaigns.add(campaign)
    return campaign


# -- registration ------------------------------------------------------------------------------


def test_every_model_of_our_apps_is_registered_in_the_admin():
    models = [m for app in OUR_APPS for m in apps.get_app_config(app).get_models()]
    missing = [m._meta.label for m in models if not admin.site.is_registered(m)]
    assert missing == []
    assert admin.site.is_registered(LogEntry)


def test_every_changelist_loads_with_its_filters_and_search(admin_client, campaign):
    _member(campaign)
    models = [m for app in OUR_APPS for m in apps.get_app_config(app).get_models()] + [LogEntry]
    for model in [m for m in models if admin.site.is_registered(m)]:
        model_admin = admin.site._registry[model]
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        assert admin_client.get(url).status_code == 200, url
        if model_admin.search_fields:
            assert admin_client.get(url, {"q": "x"}).status_code == 200, url


# -- reassign members --------------------------------------------------------------------------


def test_reassign_gives_open_members_to_the_agent_and_leaves_closed_ones(campaign, team):
    first, second = agent_on(team, username="first"), agent_on(team, username="second")
    queued = _member(campaign, owner=first)
    claimed = _member(campaign, status=MemberStatus.CLAIMED, claimed_by=first, owner=first)
    done = _member(campaign, status=MemberStatus.DONE, owner=first)
    unowned = _member(campaign)

    moved = members_reassign(members=CampaignMember.objects.all(), agent=second)

    assert moved == 3
    owners = dict(CampaignMember.objects.values_list("pk", "owner__username"))
    assert owners == {
        queued.pk: "second",
        claimed.pk: "second",
        done.pk: "first",
        unowned.pk: "second",
    }
    # The claim in progress stays with the agent who holds it.
    claimed.refresh_from_db()
    assert claimed.claimed_by == first and claimed.status == MemberStatus.CLAIMED


def test_reassign_refuses_a_user_who_is_not_an_agent(campaign, supervisor):
    _member(campaign)
    with pytest.raises(ValidationError):
        members_reassign(members=CampaignMember.objects.all(), agent=supervisor)


def test_reassign_action_asks_for_the_agent_then_reassigns(admin_client, campaign, team):
    agent = agent_on(team, username="taker")
    members = [_member(campaign), _member(campaign)]
    url = reverse("admin:outreach_campaignmember_changelist")
    selection = {"action": "reassign_members", "_selected_action": [m.pk for m in members]}

    page = admin_client.post(url, selection)
    assert page.status_code == 200
    assert "admin/action_form.html" in [t.name for t in page.templates]
    assert f'<option value="{agent.agent_profile.pk}">taker ({team.name})</option>' in (
        page.content.decode()
    )
    assert not CampaignMember.objects.filter(owner=agent).exists()

    done = admin_client.post(
        url, {**selection, "apply": "1", "agent": agent.agent_profile.pk}, follow=True
    )
    assert done.status_code == 200
    assert CampaignMember.objects.filter(owner=agent).count() == 2
    assert "2 members reassigned to taker" in done.content.decode()


def test_reassign_action_shows_the_form_again_without_an_agent(admin_client, campaign):
    member = _member(campaign)
    response = admin_client.post(
        reverse("admin:outreach_campaignmember_changelist"),
        {"action": "reassign_members", "_selected_action": [member.pk], "apply": "1"},
    )
    assert response.status_code == 200
    assert "agent" in response.context["form"].errors


# -- do not contact ----------------------------------------------------------------------------


def test_do_not_contact_action_lists_the_customer_and_closes_open_memberships(
    admin_client, campaign, team
):
    customer, other = CustomerFactory(), CustomerFactory()
    agent = agent_on(team)
    queued = _member(campaign, customer)
    claimed = _member(
        CampaignFactory(state=CampaignState.RUNNING),
        customer,
        status=MemberStatus.CLAIMED,
        claimed_by=agent,
    )
    done = _member(CampaignFactory(state=CampaignState.RUNNING), customer, MemberStatus.DONE)
    untouched = _member(campaign, other)
    url = reverse("admin:customers_customer_changelist")
    selection = {"action": "add_to_do_not_contact", "_selected_action": [customer.pk]}

    page = admin_client.post(url, selection)
    assert "admin/action_form.html" in [t.name for t in page.templates]
    assert not DoNotContact.objects.exists()

    done_page = admin_client.post(url, {**selection, "apply": "1", "reason": "legal"}, follow=True)
    assert done_page.status_code == 200
    entry = DoNotContact.objects.get()
    assert (entry.scope, entry.customer, entry.reason) == ("customer", customer, "legal")
    assert entry.source == "admin by admin"
    for member in (queued, claimed):
        member.refresh_from_db()
        assert member.status == MemberStatus.EXCLUDED
        assert member.close_reason == CloseReason.DO_NOT_CONTACT
        assert member.claimed_by is None
    done.refresh_from_db()
    untouched.refresh_from_db()
    assert done.status == MemberStatus.DONE and done.close_reason == ""
    assert untouched.status == MemberStatus.QUEUED


def test_do_not_contact_twice_keeps_one_entry_with_its_first_reason(campaign):
    customer = CustomerFactory()
    first = customer_do_not_contact_add(customer=customer, reason="legal", source="admin by a")
    _member(campaign, customer)  # added to a campaign later by hand
    again = customer_do_not_contact_add(customer=customer, reason="other", source="admin by b")
    assert first.created and not again.created
    assert again.entry == first.entry and again.entry.reason == "legal"
    assert again.members_closed == 1
    assert DoNotContact.objects.count() == 1


# -- audit log ---------------------------------------------------------------------------------


def _logged_change(user) -> LogEntry:
    campaign = CampaignFactory()
    return LogEntry.objects.log_actions(
        user_id=user.pk,
        queryset=[campaign],
        action_flag=CHANGE,
        change_message=[{"changed": {"fields": ["Name"]}}],
        single_object=True,
    )


def test_admin_changes_are_logged_and_admins_read_the_log(client, team):
    boss = _staff("boss", ADMIN)
    client.force_login(boss)
    url = reverse("admin:outreach_team_change", args=[team.pk])
    client.post(url, {"name": "Renamed", "is_active": "on", **_empty_inline()})
    entry = LogEntry.objects.get()
    assert entry.user == boss
    assert entry.content_type == ContentType.objects.get_for_model(team)

    changelist = client.get(reverse("admin:admin_logentry_changelist"))
    assert changelist.status_code == 200
    html = changelist.content.decode()
    assert "Renamed" in html and "boss" in html
    assert client.get(reverse("admin:index")).content.decode().count("admin/logentry/") >= 1
    # Read-only: no add, no edit, no delete.
    detail = client.get(reverse("admin:admin_logentry_change", args=[entry.pk]))
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert client.get(reverse("admin:admin_logentry_add")).status_code == 403
    delete = client.post(reverse("admin:admin_logentry_delete", args=[entry.pk]), {"post": "yes"})
    assert delete.status_code == 403 and LogEntry.objects.filter(pk=entry.pk).exists()


def test_supervisors_do_not_see_the_audit_log(client):
    supervisor = _staff("lead", SUPERVISOR)
    _logged_change(supervisor)
    client.force_login(supervisor)
    assert client.get(reverse("admin:admin_logentry_changelist")).status_code == 403
    assert "admin/logentry/" not in client.get(reverse("admin:index")).content.decode()


def _empty_inline() -> dict:
    return {
        "agents-TOTAL_FORMS": "0",
        "agents-INITIAL_FORMS": "0",
        "agents-MIN_NUM_FORMS": "0",
        "agents-MAX_NUM_FORMS": "1000",
    }
