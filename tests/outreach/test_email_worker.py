"""The e-mail channel through a real Celery worker on Redis, against the PostgreSQL test
database: each member gets exactly one e-mail even when the batch is queued twice, and the
unsubscribe link taken from a sent e-mail stops every later e-mail to that customer."""

from __future__ import annotations

import email
import email.policy
import re
import time
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from campaigns.models import CampaignState
from customers.models import Channel
from outreach.models import CampaignMember, CloseReason, ContactAttempt, MemberStatus
from outreach.tasks import email_campaign_send_task, email_send_member_task
from tests.factories import CampaignFactory, consenting
from tests.workers import (
    skip_without_postgres_and_broker,
    start_celery_worker,
    stop_celery_worker,
    subprocess_env,
    wait_for,
)

BROKER = settings.CELERY_BROKER_URL
SEPARATOR = b"\n" + b"-" * 79 + b"\n"  # between messages in the file backend's files


@pytest.fixture
def mail_worker(transactional_db, tmp_path):
    """A real worker on the test Redis, on a queue of its own (other test runs may share the
    broker), writing e-mail into ``tmp_path``. Yields a function reading what it sent."""
    skip_without_postgres_and_broker(BROKER)
    queue = f"email-test-{uuid.uuid4().hex[:12]}"
    env = subprocess_env(
        "tests.outreach.email_worker_settings",
        CELERY_BROKER_URL=BROKER,
        TEST_EMAIL_FILE_PATH=str(tmp_path),
        TEST_CELERY_QUEUE=queue,
    )
    worker = start_celery_worker(env, queue=queue)

    def sent() -> list[email.message.EmailMessage]:
        messages = []
        for path in sorted(tmp_path.iterdir()):
            for chunk in path.read_bytes().split(SEPARATOR):
                if chunk.strip():
                    messages.append(email.message_from_bytes(chunk, policy=email.policy.default))
        return messages

    def idle() -> None:
        """Wait until the queue is empty and the worker has finished what it took."""
        import redis

        broker = redis.Redis.from_url(BROKER)
        wait_for(lambda: broker.llen(queue) == 0, timeout=60)
        time.sleep(1.5)  # the solo worker finishes the task it took last
        wait_for(lambda: broker.llen(queue) == 0, timeout=60)

    sent.idle = idle
    try:
        yield sent
    finally:
        stop_celery_worker(worker)
        import redis

        redis.Redis.from_url(BROKER).delete(queue)


def _campaign(name: str):
    return CampaignFactory(
        name=name,
        state=CampaignState.RUNNING,
        channel=Channel.EMAIL,
        product="COUPON",
        email_subject="{{ campaign_name }}: {{ name }} 様",
        email_body="{{ name }} 様\n{{ offer }}",
        offer="10% OFF",
    )


def _members(campaign, customers):
    launched = timezone.now() - timedelta(minutes=5)
    return [
        CampaignMember.objects.create(
            campaign=campaign, customer=customer, group="treatment", rank=rank, due_at=launched
        )
        for rank, customer in enumerate(customers, start=1)
    ]


def _open(campaign) -> int:
    return CampaignMember.objects.filter(
        campaign=campaign, status__in=[MemberStatus.QUEUED, MemberStatus.CLAIMED]
    ).count()


@pytest.mark.celery_worker
@pytest.mark.postgres_only
def test_a_real_worker_sends_once_per_member_and_the_unsubscribe_link_stops_the_rest(
    mail_worker,
):
    customers = [consenting() for _ in range(6)]
    spring, summer = _campaign("春のご案内"), _campaign("夏のご案内")
    spring_members = _members(spring, customers)
    summer_members = _members(summer, customers)

    # The batch queued twice and one member's own task queued twice on top: duplicates that
    # a retried or double-clicked send would produce.
    email_campaign_send_task.delay(spring.pk, 2)
    email_campaign_send_task.delay(spring.pk, 2)
    email_send_member_task.delay(spring_members[0].pk)
    email_send_member_task.delay(spring_members[0].pk)
    wait_for(lambda: _open(spring) == 0, timeout=90)
    mail_worker.idle()

    spring_mail = [m for m in mail_worker() if m["Subject"].startswith("春のご案内")]
    assert sorted(m["To"] for m in spring_mail) == sorted(c.email for c in customers)
    assert (
        ContactAttempt.objects.filter(campaign=spring, disposition__code="email_sent").count() == 6
    )

    # The third customer clicks unsubscribe in their e-mail (a mail client's one-click POST).
    leaving = customers[2]
    (their_mail,) = [m for m in spring_mail if m["To"] == leaving.email]
    link = re.search(r"<([^>]+)>", their_mail["List-Unsubscribe"]).group(1)
    assert link in their_mail.get_content()  # the same link is in the footer
    response = Client().post(
        urlsplit(link).path,
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200

    email_campaign_send_task.delay(summer.pk, 2)
    wait_for(lambda: _open(summer) == 0, timeout=90)
    mail_worker.idle()

    summer_mail = [m for m in mail_worker() if m["Subject"].startswith("夏のご案内")]
    assert sorted(m["To"] for m in summer_mail) == sorted(
        c.email for c in customers if c != leaving
    )
    skipped = CampaignMember.objects.get(pk=summer_members[2].pk)
    assert skipped.status == MemberStatus.EXCLUDED
    assert skipped.close_reason == CloseReason.EMAIL_OPTED_OUT
    # Nothing more arrives for the spring campaign either: once per member, for good.
    assert len([m for m in mail_worker() if m["Subject"].startswith("春のご案内")]) == 6
