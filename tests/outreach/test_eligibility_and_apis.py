"""The eligibility trace (selector, page, API), the queue APIs and the campaign pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import CampaignState
from customers.models import DoNotContact, Lifecycle, ProductRefusal
from outreach.claiming import claim_next
from outreach.models import CampaignLaunch, ContactAttempt, Lane, MemberStatus
from outreach.selectors import eligibility_trace
from tests.factories import (
    CampaignFactory,
    CustomerFactory,
    CustomerRfmFactory,
    SegmentFactory,
    member_of,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def codes(trace, ok=None):
    return [s.code for s in trace.steps if ok is None or s.ok == ok]


def test_trace_in_queue(running_campaign, now):
    m = member_of(running_campaign)
    trace = eligibility_trace(campaign=running_campaign, customer=m.customer, now=now)
    assert trace.in_queue_now, trace.steps
    assert "window" in codes(trace, ok=True)


def test_trace_names_the_holdout(running_campaign, now):
    m = member_of(running_campaign, group="holdout", status=MemberStatus.HELD_OUT)
    trace = eligibility_trace(campaign=running_campaign, customer=m.customer, now=now)
    assert not trace.in_queue_now
    assert "holdout" in codes(trace, ok=False)


def test_trace_names_the_suppressing_record(running_campaign, now):
    m = member_of(running_campaign)
    entry = DoNotContact.objects.create(
        scope="customer", customer=m.customer, reason="request", source="phone call"
    )
    trace = eligibility_trace(campaign=running_campaign, customer=m.customer, now=now)
    step = next(s for s in trace.steps if s.code == "suppression")
    assert not step.ok and f"#{entry.pk}" in step.detail and "phone call" in step.detail


def test_trace_names_the_refusal(running_campaign, now):
    m = member_of(running_campaign)
    refusal = ProductRefusal.objects.create(
        customer=m.customer, product=running_campaign.product, refused_at=now
    )
    trace = eligibility_trace(campaign=running_campaign, customer=m.customer, now=now)
    assert f"#{refusal.pk}" in next(s for s in trace.steps if s.code == "suppression").detail


def test_trace_outside_the_window_says_until_when_in_the_customers_zone(running_campaign, now):
    m = member_of(
        running_campaign, customer=CustomerFactory(time_zone="America/New_York", country="US")
    )
    trace = eligibility_trace(
        campaign=running_campaign, customer=m.customer, now=now
    )  # 21:00 in New York
    step = next(s for s in trace.steps if s.code == "window")
    assert not step.ok and "America/New_York" in step.detail
    assert trace.window.opens_at.isoformat().startswith("2026-12-01T09:00")


def test_trace_unknown_zone_falls_back_and_says_so(running_campaign, now):
    m = member_of(running_campaign, customer=CustomerFactory(time_zone=""))
    trace = eligibility_trace(campaign=running_campaign, customer=m.customer, now=now)
    assert trace.window.fallback
    assert "unknown" in next(s for s in trace.steps if s.code == "window").detail


def test_trace_claimed_by_and_next_due(running_campaign, agent_x, now):
    claimed = member_of(running_campaign)
    later = member_of(running_campaign, lane=Lane.RETRY, due_at=now + timedelta(hours=2))
    claim_next(agent=agent_x, now=now)
    trace = eligibility_trace(campaign=running_campaign, customer=claimed.customer, now=now)
    claim = next(s for s in trace.steps if s.code == "claim")
    assert "agent-x" in claim.label
    trace = eligibility_trace(campaign=running_campaign, customer=later.customer, now=now)
    assert trace.next_due_at == later.due_at and not trace.in_queue_now


def test_trace_attempts_exhausted_and_converted(running_campaign, now):
    exhausted = member_of(running_campaign, attempts=running_campaign.max_attempts)
    trace = eligibility_trace(campaign=running_campaign, customer=exhausted.customer, now=now)
    assert "attempts" in codes(trace, ok=False)
    converted = member_of(
        running_campaign, status=MemberStatus.DONE, close_reason="converted", converted_at=now
    )
    trace = eligibility_trace(campaign=running_campaign, customer=converted.customer, now=now)
    assert "done" in codes(trace, ok=False) and "Converted" in trace.summary


def test_trace_not_a_member_because_of_the_segment(now):
    dormant = SegmentFactory(lifecycle=Lifecycle.DORMANT, name="Dormant")
    elsewhere = SegmentFactory(name="Champions")
    rfm = CustomerRfmFactory(segment=elsewhere)
    campaign = CampaignFactory(state=CampaignState.RUNNING)
    campaign.target_segments.set([dormant])
    CampaignLaunch.objects.create(campaign=campaign, status="succeeded")
    trace = eligibility_trace(campaign=campaign, customer=rfm.customer, now=now)
    step = trace.steps[1]
    assert (
        step.code == "member"
        and not step.ok
        and "Champions" in step.label
        and "Dormant" in step.detail
    )


# -- API ---------------------------------------------------------------------------------------


@pytest.fixture
def as_agent(agent_x):
    client = APIClient()
    client.force_authenticate(agent_x)
    return client


@pytest.fixture
def inside_hours(now):
    with time_machine.travel(now, tick=False):
        yield now


def test_api_claim_log_and_replay(as_agent, running_campaign, inside_hours):
    m = member_of(running_campaign)
    claimed = as_agent.post(reverse("api-claim-next"), {}, format="json")
    assert claimed.status_code == 200 and claimed.data["member"]["id"] == m.pk
    assert claimed.data["dial"] == m.customer.phone
    body = {"member": m.pk, "disposition": "no_answer", "idempotency_key": "abc"}
    first = as_agent.post(reverse("api-attempt-create"), body, format="json")
    again = as_agent.post(reverse("api-attempt-create"), body, format="json")
    assert first.status_code == 201 and again.status_code == 200
    assert first.data["id"] == again.data["id"] and ContactAttempt.objects.count() == 1


def test_api_outcome_errors_are_specific(as_agent, running_campaign, inside_hours):
    m = member_of(running_campaign)
    as_agent.post(reverse("api-claim-next"), {}, format="json")
    response = as_agent.post(
        reverse("api-attempt-create"),
        {"member": m.pk, "disposition": "callback_personal", "idempotency_key": "cb"},
        format="json",
    )
    assert response.status_code == 400 and "callback_at" in response.data


def test_api_agent_cannot_touch_another_agents_member(
    running_campaign, agent_x, agent_y, inside_hours
):
    m = member_of(running_campaign)
    claim_next(agent=agent_x, now=inside_hours)
    client = APIClient()
    client.force_authenticate(agent_y)
    assert client.post(reverse("api-claim-release", args=[m.pk])).status_code == 404
    response = client.post(
        reverse("api-attempt-create"),
        {"member": m.pk, "disposition": "no_answer", "idempotency_key": "z"},
        format="json",
    )
    assert response.status_code == 404


def test_api_release_and_callback(as_agent, running_campaign, inside_hours):
    m = member_of(running_campaign)
    as_agent.post(reverse("api-claim-next"), {}, format="json")
    at = (inside_hours + timedelta(hours=3)).isoformat()
    response = as_agent.post(
        reverse("api-callback-schedule", args=[m.pk]), {"at": at}, format="json"
    )
    assert response.status_code == 200 and response.data["lane"] == "callback"
    late = (inside_hours.replace(hour=23)).isoformat()
    response = as_agent.post(
        reverse("api-callback-schedule", args=[m.pk]), {"at": late}, format="json"
    )
    assert response.status_code == 400 and "at" in response.data


def test_api_verify_reports_a_fresh_refusal(as_agent, running_campaign, inside_hours):
    m = member_of(running_campaign)
    as_agent.post(reverse("api-claim-next"), {}, format="json")
    ProductRefusal.objects.create(
        customer=m.customer, product=running_campaign.product, refused_at=timezone.now()
    )
    response = as_agent.post(reverse("api-claim-verify", args=[m.pk]))
    assert response.status_code == 409
    assert response.data["blocks"][0]["code"] == "refused_product"


def test_api_nothing_to_claim_says_why(as_agent, running_campaign, inside_hours):
    response = as_agent.post(reverse("api-claim-next"), {}, format="json")
    assert (
        response.status_code == 200 and response.data["member"] is None and response.data["message"]
    )


def test_supervisor_apis_refuse_agents(as_agent, running_campaign):
    customer = CustomerFactory()
    assert (
        as_agent.get(
            reverse("api-eligibility-trace", args=[running_campaign.pk, customer.pk])
        ).status_code
        == 403
    )
    assert (
        as_agent.post(reverse("api-campaign-launch", args=[running_campaign.pk])).status_code == 403
    )
    assert (
        as_agent.get(reverse("api-campaign-queue", args=[running_campaign.pk])).status_code == 403
    )


def test_api_trace_and_launch(api_client, django_capture_on_commit_callbacks):
    segment = SegmentFactory()
    rfm = CustomerRfmFactory(segment=segment)
    campaign = CampaignFactory(state=CampaignState.SCHEDULED)
    campaign.target_segments.set([segment])
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(reverse("api-campaign-launch", args=[campaign.pk]))
    assert response.status_code == 202
    progress = api_client.get(reverse("api-campaign-launch", args=[campaign.pk]))
    assert progress.data["status"] == "succeeded" and progress.data["treatment"] == 1
    trace = api_client.get(reverse("api-eligibility-trace", args=[campaign.pk, rfm.customer_id]))
    assert trace.status_code == 200 and trace.data["member"]["customer"] == rfm.customer_id
    assert {"code", "ok", "label", "detail"} <= set(trace.data["steps"][0])
    queue = api_client.get(reverse("api-campaign-queue", args=[campaign.pk]))
    assert queue.data["total"] == 1


def test_api_requires_login(client, running_campaign):
    assert client.post(reverse("api-claim-next")).status_code in (401, 403)


# -- pages -------------------------------------------------------------------------------------


def test_campaign_pages_launch_and_trace(supervisor_client, django_capture_on_commit_callbacks):
    segment = SegmentFactory()
    rfm = CustomerRfmFactory(segment=segment, customer=CustomerFactory(external_id="EXT-1"))
    campaign = CampaignFactory(state=CampaignState.SCHEDULED, name="冬の休眠掘り起こし")
    campaign.target_segments.set([segment])
    page = supervisor_client.get(reverse("campaigns:campaign-list"))
    assert "冬の休眠掘り起こし" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        supervisor_client.post(reverse("campaigns:campaign-launch", args=[campaign.pk]))
    detail = supervisor_client.get(
        reverse("campaigns:campaign-detail", args=[campaign.pk])
    ).content.decode()
    assert 'id="queue-counts"' in detail and 'data-status="succeeded"' in detail
    lookup = supervisor_client.get(
        reverse("campaigns:campaign-eligibility-lookup", args=[campaign.pk]), {"customer": "EXT-1"}
    )
    assert lookup.status_code == 302 and lookup.url == reverse(
        "campaigns:campaign-eligibility", args=[campaign.pk, rfm.customer_id]
    )
    trace = supervisor_client.get(lookup.url).content.decode()
    assert 'id="trace-summary"' in trace and 'data-code="window"' in trace


def test_campaign_state_change_page_reports_what_is_missing(supervisor_client):
    campaign = CampaignFactory(disclosure_company="")
    response = supervisor_client.post(
        reverse("campaigns:campaign-state", args=[campaign.pk]),
        {"to": "scheduled"},
        follow=True,
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "disclosure: company name" in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.state == CampaignState.DRAFT


def test_campaign_pages_are_for_supervisors(agent_client, running_campaign):
    assert agent_client.get(reverse("campaigns:campaign-list")).status_code == 403
    assert (
        agent_client.get(
            reverse("campaigns:campaign-detail", args=[running_campaign.pk])
        ).status_code
        == 403
    )
