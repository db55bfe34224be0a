"""Claiming under real concurrency on PostgreSQL: threads, each with its own connection.

SKIP LOCKED only means something with several sessions at once, so these tests commit for real
(``transaction=True``) and run the agents in threads.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from customers.models import ProductRefusal
from outreach.claiming import claim_next, claim_verify
from outreach.models import (
    CampaignMember,
    CloseReason,
    ContactAttempt,
    Disposition,
    MemberStatus,
)
from outreach.outcomes import contact_log
from tests.factories import CampaignFactory, CustomerFactory, agent_on

pytestmark = [pytest.mark.postgres_only, pytest.mark.django_db(transaction=True)]

AGENTS = 100
MEMBERS = 300
# Connections left for everyone else on the server (other test runs, psql, the main thread).
SPARE_CONNECTIONS = 10


@pytest.fixture(autouse=True)
def _resegmentation_queued_not_run(monkeypatch):
    """An outcome queues re-segmentation for a worker; eager Celery would run a full
    segmentation inside every agent's thread, which is not what is under test here."""
    from customers.tasks import segmentation_run_task

    queued: list[list[int]] = []
    monkeypatch.setattr(segmentation_run_task, "delay", lambda cause, ids=None: queued.append(ids))
    return queued


def free_connections() -> int:
    """Client connections this server can still accept, minus a margin for others."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT current_setting('max_connections')::int
                 - current_setting('superuser_reserved_connections')::int
                 - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')
            """
        )
        return cursor.fetchone()[0] - SPARE_CONNECTIONS


def members_of(campaign, customers, due):
    return CampaignMember.objects.bulk_create(
        CampaignMember(
            campaign=campaign,
            customer=customer,
            group="treatment",
            rank=position,
            due_at=due,
        )
        for position, customer in enumerate(customers, start=1)
    )


def run_threads(targets, timeout: float) -> None:
    threads = [threading.Thread(target=target, daemon=True) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    hung = [thread for thread in threads if thread.is_alive()]
    assert not hung, f"{len(hung)} threads still running after {timeout} s (deadlock?)"


def test_a_hundred_agents_claiming_at_once_get_every_member_exactly_once(
    postgres, team, running_campaign, now, _resegmentation_queued_not_run
):
    # Given 300 waiting members and 100 agents on the campaign's team
    customers = CustomerFactory.create_batch(MEMBERS)
    members = members_of(running_campaign, customers, due=now - timedelta(hours=1))
    agents = [agent_on(team, username=f"concurrent-{n:03d}") for n in range(AGENTS)]
    outcomes = [
        Disposition.objects.get(code="not_eligible"),
        Disposition.objects.get(code="success"),
    ]
    # Every agent thread has its own connection. The server's connection limit is shared, so at
    # most ``slots`` agents talk to the database at the same moment (all 100 when the server has
    # room); a claim and its log run in one such session, as one web request each would.
    slots = threading.BoundedSemaphore(max(8, min(AGENTS, free_connections())))
    barrier = threading.Barrier(AGENTS)
    claims: list[tuple[int, int]] = []  # (agent, member), appended under the GIL
    errors: list[BaseException] = []

    def agent_works(agent, outcome):
        def work():
            try:
                barrier.wait(timeout=30)
                while True:
                    with slots:
                        try:
                            result = claim_next(agent=agent, campaign=running_campaign, now=now)
                            if result.member is None:
                                return
                            member = result.member
                            claims.append((agent.pk, member.pk))
                            contact_log(
                                member=member,
                                agent=agent,
                                disposition=outcome,
                                idempotency_key=f"conc-{agent.pk}-{member.pk}",
                                disclosure_given=True,
                                now=now,
                            )
                        finally:
                            connection.close()
            except BaseException as error:  # reported by the main thread
                errors.append(error)
                barrier.abort()

        return work

    # When they all press "next customer" together until nothing is left
    run_threads(
        [agent_works(agent, outcomes[n % 2]) for n, agent in enumerate(agents)], timeout=120
    )

    # Then nobody failed, and every member was handed out exactly once, to one agent
    assert errors == []
    handed_out = Counter(member for _agent, member in claims)
    assert set(handed_out) == {m.pk for m in members}
    assert handed_out.most_common(1)[0][1] == 1
    assert len(claims) == MEMBERS
    assert len({agent for agent, _member in claims}) > 1
    # and worked to the end: each one logged once and closed
    assert ContactAttempt.objects.filter(campaign=running_campaign).count() == MEMBERS
    assert set(
        CampaignMember.objects.filter(campaign=running_campaign).values_list("status", flat=True)
    ) == {MemberStatus.DONE}
    assert ContactAttempt.objects.values("member").distinct().count() == MEMBERS
    assert len(_resegmentation_queued_not_run) == MEMBERS


def test_a_refusal_in_another_campaign_stops_the_claim_another_agent_holds(
    postgres, team, running_campaign, now
):
    # Given one customer in two running campaigns of the same product, worked by agents A and B
    second = CampaignFactory(state="running", product=running_campaign.product)
    team.campaigns.add(second)
    agent_a = agent_on(team, username="agent-a")
    agent_b = agent_on(team, username="agent-b")
    customer = CustomerFactory()
    due = now - timedelta(hours=1)
    (held,) = members_of(running_campaign, [customer], due=due)
    (refusing,) = members_of(second, [customer], due=due)
    refused = Disposition.objects.get(code="refused")
    no_answer = Disposition.objects.get(code="no_answer")

    a_holds, b_logged = threading.Event(), threading.Event()
    seen: dict[str, object] = {}
    errors: list[BaseException] = []

    def agent_a_works():
        try:
            seen["a_claimed"] = claim_next(agent=agent_a, campaign=running_campaign, now=now).member
            a_holds.set()
            assert b_logged.wait(timeout=30), "agent B never logged"
            # ... and A, still holding the claim, checks before dialling, then tries to log
            seen["a_verdict"] = claim_verify(member=seen["a_claimed"], agent=agent_a, now=now)
            try:
                contact_log(
                    member=seen["a_claimed"],
                    agent=agent_a,
                    disposition=no_answer,
                    idempotency_key="a-late",
                    now=now,
                )
            except ValidationError as error:
                seen["a_log_refused"] = error
            seen["a_next"] = claim_next(agent=agent_a, campaign=running_campaign, now=now).member
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            a_holds.set()
            connection.close()

    def agent_b_works():
        try:
            assert a_holds.wait(timeout=30), "agent A never claimed"
            # When B, in the other campaign, logs a refusal while A holds the claim
            seen["b_claimed"] = claim_next(agent=agent_b, campaign=second, now=now).member
            contact_log(
                member=seen["b_claimed"],
                agent=agent_b,
                disposition=refused,
                idempotency_key="b-refused",
                now=now,
            )
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            b_logged.set()
            connection.close()

    run_threads([agent_a_works, agent_b_works], timeout=60)

    # Then A's next step is blocked by the refusal, and nobody is ever served the member again
    assert errors == []
    assert seen["a_claimed"].pk == held.pk
    assert seen["b_claimed"].pk == refusing.pk
    assert ProductRefusal.objects.filter(
        customer=customer, product=running_campaign.refusal_key
    ).exists()
    verdict = seen["a_verdict"]
    assert not verdict.allowed
    assert verdict.blocks[0].code == CloseReason.REFUSED_PRODUCT
    assert "a_log_refused" in seen
    assert not ContactAttempt.objects.filter(idempotency_key="a-late").exists()
    assert seen["a_next"] is None
    assert claim_next(agent=agent_b, campaign=running_campaign, now=now).member is None
    held.refresh_from_db()
    assert held.status == MemberStatus.EXCLUDED
    assert held.close_reason == CloseReason.REFUSED_PRODUCT
