"""The agent workspace through its pages: my work, next customer, the card, the outcome form,
access rules and the audit of card views."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.models import ProductRefusal, Purchase
from customers.services.affinity import category_affinity_rebuild
from customers.services.segments import segmentation_run
from outreach.claiming import claim_next
from outreach.models import (
    CampaignMember,
    ContactAttempt,
    CustomerCardView,
    Disposition,
    MemberStatus,
)
from tests.factories import CampaignFactory, CustomerFactory, member_of

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _inside_hours(now):
    with time_machine.travel(now, tick=False):
        yield


def login(user, **options):
    client = Client(**options)
    client.force_login(user)
    return client


def test_my_work_shows_counts_callbacks_and_tally(running_campaign, agent_x, now):
    member_of(running_campaign)
    member_of(running_campaign, lane=1)
    cb = member_of(
        running_campaign, lane=0, callback_agent=agent_x, due_at=now + timedelta(hours=1)
    )
    page = login(agent_x).get(reverse("outreach:work")).content.decode()
    assert f'data-campaign="{running_campaign.pk}"' in page
    assert 'id="next-customer"' in page
    assert str(cb.customer) in page  # my callbacks list
    assert 'id="tally-attempts">0<' in page


def test_next_customer_shows_the_card_with_the_number_to_dial(running_campaign, agent_x):
    m = member_of(
        running_campaign, customer=CustomerFactory(phone="+81312345678", name="佐藤 花子")
    )
    response = login(agent_x).post(reverse("outreach:work-next"), **HTMX)
    html = response.content.decode()
    assert "佐藤 花子" in html and 'id="outcome-form"' in html
    assert "+81312345678" in html  # full number for the agent holding the claim
    assert running_campaign.disclosure_company in html
    m.refresh_from_db()
    assert m.status == MemberStatus.CLAIMED and m.claimed_by == agent_x
    assert (
        CustomerCardView.objects.filter(user=agent_x, customer=m.customer, reason="claim").count()
        == 1
    )


def test_next_without_htmx_redirects_to_the_card_page(running_campaign, agent_x):
    m = member_of(running_campaign)
    response = login(agent_x).post(reverse("outreach:work-next"))
    assert response.status_code == 302 and response.url == reverse(
        "outreach:work-card", args=[m.pk]
    )


def test_nothing_waiting_says_so(running_campaign, agent_x):
    html = login(agent_x).post(reverse("outreach:work-next"), **HTMX).content.decode()
    assert 'id="nothing-message"' in html


def test_outcome_logs_once_and_offers_the_next_customer(running_campaign, agent_x):
    m = member_of(running_campaign)
    member_of(running_campaign)
    client = login(agent_x)
    client.post(reverse("outreach:work-next"), **HTMX)
    body = {"disposition": "no_answer", "idempotency_key": "form-1"}
    first = client.post(reverse("outreach:work-outcome", args=[m.pk]), body, **HTMX)
    assert (
        'id="logged"' in first.content.decode() and 'id="next-customer"' in first.content.decode()
    )
    assert 'hx-swap-oob="true"' in first.content.decode()  # the tally refreshes
    again = client.post(reverse("outreach:work-outcome", args=[m.pk]), body, **HTMX)
    assert again.status_code in (200, 404)
    assert ContactAttempt.objects.filter(member=m).count() == 1
    attempt = ContactAttempt.objects.get(member=m)
    assert attempt.agent == agent_x and attempt.duration_seconds >= 0


def test_success_without_the_disclosure_is_refused_and_nothing_logged(running_campaign, agent_x):
    m = member_of(running_campaign)
    client = login(agent_x, HTTP_ACCEPT_LANGUAGE="en")
    client.post(reverse("outreach:work-next"), **HTMX)
    response = client.post(
        reverse("outreach:work-outcome", args=[m.pk]),
        {"disposition": "success", "idempotency_key": "s-1"},
        **HTMX,
    )
    assert "disclosure" in response.content.decode().lower()
    assert not ContactAttempt.objects.exists()
    ok = client.post(
        reverse("outreach:work-outcome", args=[m.pk]),
        {
            "disposition": "success",
            "idempotency_key": "s-2",
            "disclosed_company": "on",
            "disclosed_caller": "on",
            "disclosed_product": "on",
            "disclosed_purpose": "on",
        },
        **HTMX,
    )
    assert 'id="logged"' in ok.content.decode()
    assert ContactAttempt.objects.get().disclosure_given


def test_another_agents_customer_is_a_404(running_campaign, agent_x, agent_y):
    m = member_of(running_campaign)
    claim_next(agent=agent_x)
    other = login(agent_y)
    assert other.get(reverse("outreach:work-card", args=[m.pk])).status_code == 404
    assert other.get(reverse("outreach:customer-card", args=[m.customer_id])).status_code == 404
    assert (
        other.post(
            reverse("outreach:work-outcome", args=[m.pk]),
            {"disposition": "no_answer", "idempotency_key": "x"},
        ).status_code
        == 404
    )
    assert not CustomerCardView.objects.filter(user=agent_y).exists()


def test_supervisor_opens_any_card_masked_and_audited(running_campaign, agent_x, supervisor):
    m = member_of(running_campaign, customer=CustomerFactory(phone="+81312345678"))
    claim_next(agent=agent_x)
    html = (
        login(supervisor)
        .get(reverse("outreach:customer-card", args=[m.customer_id]))
        .content.decode()
    )
    assert "+81312345678" not in html and "5678" in html
    assert CustomerCardView.objects.filter(
        user=supervisor, customer=m.customer, reason="supervisor"
    ).exists()


def test_outcome_posts_need_the_csrf_token(running_campaign, agent_x):
    m = member_of(running_campaign)
    claim_next(agent=agent_x)
    client = login(agent_x, enforce_csrf_checks=True)
    response = client.post(
        reverse("outreach:work-outcome", args=[m.pk]),
        {"disposition": "no_answer", "idempotency_key": "c"},
    )
    assert response.status_code == 403
    assert not ContactAttempt.objects.exists()


def test_card_says_when_a_refusal_arrived_during_the_claim(running_campaign, agent_x):
    m = member_of(running_campaign)
    client = login(agent_x)
    client.post(reverse("outreach:work-next"), **HTMX)
    ProductRefusal.objects.create(
        customer=m.customer, product=running_campaign.product, refused_at=m.due_at
    )
    html = client.get(reverse("outreach:work-card", args=[m.pk])).content.decode()
    assert 'id="card-blocked"' in html and 'id="outcome-form"' not in html
    m.refresh_from_db()
    assert m.status == MemberStatus.EXCLUDED


def test_personal_callback_from_the_form(running_campaign, agent_x, now):
    m = member_of(running_campaign)
    client = login(agent_x)
    client.post(reverse("outreach:work-next"), **HTMX)
    when = (now + timedelta(days=1)).replace(hour=10, minute=0)
    client.post(
        reverse("outreach:work-outcome", args=[m.pk]),
        {
            "disposition": "callback_personal",
            "idempotency_key": "cb",
            "callback_at": when.strftime("%Y-%m-%dT%H:%M"),
            "callback_personal": "1",
        },
        **HTMX,
    )
    m.refresh_from_db()
    assert m.lane == 0 and m.callback_agent == agent_x and m.due_at == when


def test_agent_sends_the_campaign_email_from_the_card(team, agent_x, mailoutbox):
    from customers.models import ConsentRecord
    from tests.factories import CampaignFactory

    campaign = CampaignFactory(
        state="running",
        channel="email",
        email_subject="{{ name }}様へ",
        email_body="こんにちは {{ name }} 様",
    )
    team.campaigns.add(campaign)
    customer = CustomerFactory(name="田中 一郎", email="tanaka@example.jp")
    ConsentRecord.objects.create(
        customer=customer,
        channel="email",
        status="granted",
        source="form",
        recorded_at=campaign.created_at,
    )
    m = member_of(campaign, customer=customer)
    client = login(agent_x)
    card = client.post(reverse("outreach:work-next"), **HTMX).content.decode()
    assert 'id="email-preview"' in card and "こんにちは 田中 一郎 様" in card
    sent = client.post(reverse("outreach:work-send-email", args=[m.pk]), **HTMX)
    assert 'id="logged"' in sent.content.decode()
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["tanaka@example.jp"]
    again = client.post(reverse("outreach:work-send-email", args=[m.pk]), **HTMX)
    assert again.status_code in (302, 404)
    assert len(mailoutbox) == 1


def with_history(customer, *, lines: int, now):
    """``lines`` purchase lines and as many past contacts (another campaign, a month back and
    older, so no rule sets the member aside)."""
    elsewhere = CampaignFactory()
    no_answer = Disposition.objects.get(code="no_answer")
    for n in range(lines):
        when = now - timedelta(days=30 + n)
        Purchase.objects.create(
            customer=customer,
            line_key=f"{customer.pk}-{n}",
            order_id=f"O{customer.pk}-{n // 2}",
            purchased_at=when,
            amount=Decimal(1000 + n),
            product_code=f"P{n % 9}",
            product_name=f"商品 {n % 9}",
            category=f"Cat{n % 7}",
        )
        ContactAttempt.objects.create(
            idempotency_key=f"history-{customer.pk}-{n}",
            campaign=elsewhere,
            customer=customer,
            channel=elsewhere.channel,
            disposition=no_answer,
            attempted_at=when,
            notes=f"note {n}",
            voice_category="request" if n % 3 == 0 else "",
            voice_text="配送日を変えたい" if n % 3 == 0 else "",
        )
    return customer


def _queries(client, url) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries.captured_queries), response.content.decode()


def test_card_pages_query_count_does_not_grow_with_purchases_or_contacts(
    running_campaign, agent_x, supervisor, now
):
    # Given a customer with 2 purchase lines and 2 past contacts, one with 60 of each (past the
    # card's 50-entry timeline), both waiting in the campaign, segmented and with cross-sell
    light = member_of(running_campaign, with_history(CustomerFactory(), lines=2, now=now))
    heavy = member_of(
        running_campaign,
        with_history(CustomerFactory(), lines=60, now=now),
        due_at=light.due_at + timedelta(minutes=1),
    )
    segmentation_run(cause="manual")
    category_affinity_rebuild(min_customers=1)
    agent, boss = login(agent_x), login(supervisor)

    # When the agent opens each card while holding its claim, and a supervisor opens both
    assert claim_next(agent=agent_x).member == light
    light_url = reverse("outreach:work-card", args=[light.pk])
    agent.get(light_url)  # first request: nothing created on the fly is counted
    light_card, light_html = _queries(agent, light_url)
    CampaignMember.objects.filter(pk=light.pk).update(
        status=MemberStatus.DONE, claimed_by=None, claimed_at=None, claim_expires_at=None
    )
    assert claim_next(agent=agent_x).member == heavy
    heavy_card, heavy_html = _queries(agent, reverse("outreach:work-card", args=[heavy.pk]))
    boss.get(reverse("outreach:customer-card", args=[light.customer_id]))
    light_boss, _html = _queries(boss, reverse("outreach:customer-card", args=[light.customer_id]))
    heavy_boss, _html = _queries(boss, reverse("outreach:customer-card", args=[heavy.customer_id]))

    # Then both cards show their history, with the same number of queries
    assert "note 1" in light_html and "note 2" not in light_html
    assert "note 49" in heavy_html and 'id="outcome-form"' in heavy_html
    assert heavy_card == light_card
    assert heavy_boss == light_boss


def test_my_work_counts_stop_at_999(running_campaign, agent_x, now):
    customers = CustomerFactory.create_batch(1001)
    CampaignMember.objects.bulk_create(
        CampaignMember(
            campaign=running_campaign,
            customer=c,
            group="treatment",
            due_at=now - timedelta(hours=1),
        )
        for c in customers
    )
    page = login(agent_x).get(reverse("outreach:work")).content.decode()
    assert "999+" in page
