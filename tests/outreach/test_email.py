"""The e-mail channel: rendering, sending once per member, compliance at the moment of sending,
bounces, batches in launch order, and the one-click unsubscribe link (特定電子メール法)."""

from __future__ import annotations

import re
import smtplib
import threading
import time
from datetime import timedelta
from decimal import Decimal
from email.header import decode_header, make_header

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail.backends.locmem import EmailBackend
from django.db import connection
from django.test import Client
from django.utils import timezone

from campaigns.models import CampaignState
from customers.models import Channel, ConsentRecord, DoNotContact, Purchase
from outreach import email as mailer
from outreach.claiming import claim_next
from outreach.models import CampaignMember, CloseReason, ContactAttempt, MemberStatus
from outreach.tasks import email_campaign_send_task, email_send_member_task
from tests.factories import CampaignFactory, CustomerFactory, consenting, refreshed

pytestmark = pytest.mark.django_db

UNSUBSCRIBE_PATH = re.compile(r"https?://[^/\s]+(/unsubscribe/[^/\s]+/)")


def email_campaign(**fields):
    fields.setdefault("name", "休眠掘り起こし")
    fields.setdefault("email_subject", "{{ name }} 様へ特別なご案内")
    fields.setdefault(
        "email_body",
        "{{ name }} 様\n前回は {{ last_purchase_product }} をお買い上げいただきました。\n{{ offer }}",
    )
    fields.setdefault("offer", "10% OFF クーポン")
    fields.setdefault("state", CampaignState.RUNNING)
    return CampaignFactory(channel=Channel.EMAIL, product="COUPON", **fields)


def member_of(campaign, customer=None, **fields):
    fields.setdefault("due_at", timezone.now() - timedelta(hours=1))
    fields.setdefault("group", "treatment")
    return CampaignMember.objects.create(
        campaign=campaign, customer=customer or consenting(), **fields
    )


def sent_to(address):
    return [m for m in mail.outbox if m.to == [address]]


def unsubscribe_path(message) -> str:
    return UNSUBSCRIBE_PATH.search(message.body).group(1)


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def test_the_email_is_personalised_from_the_customer_the_offer_and_the_last_purchase():
    campaign = email_campaign(
        email_subject="{{ name }} 様\n{{ campaign_name }}",
        email_body=(
            "{{ name }}（{{ name_kana }}）様\n"
            "{{ last_purchase_date|date:'Y/m/d' }} の {{ last_purchase_product }}"
            "（{{ last_purchase_amount }}円）\n{{ offer }}\n{{ sender_name }}"
        ),
    )
    customer = CustomerFactory(name="佐藤 花子 & Co", name_kana="サトウ ハナコ")
    Purchase.objects.create(
        customer=customer,
        line_key="old",
        purchased_at=timezone.now() - timedelta(days=400),
        amount=Decimal("500"),
        product_name="古い商品",
    )
    Purchase.objects.create(
        customer=customer,
        line_key="new",
        purchased_at=timezone.make_aware(timezone.datetime(2026, 3, 14, 12, 0)),
        amount=Decimal("12800.00"),
        product_name="ウォーターサーバー",
    )

    rendered = mailer.email_render(campaign=campaign, customer=customer)

    assert rendered.subject == "佐藤 花子 & Co 様 休眠掘り起こし"  # one line, not escaped
    assert rendered.body.startswith(
        "佐藤 花子 & Co（サトウ ハナコ）様\n2026/03/14 の ウォーターサーバー（12800円）\n"
        "10% OFF クーポン\n株式会社サンプル"
    )


def test_the_footer_with_sender_address_contact_and_unsubscribe_link_is_always_appended():
    campaign = email_campaign(email_body="こんにちは")  # the template mentions none of them
    customer = CustomerFactory()

    rendered = mailer.email_render(campaign=campaign, customer=customer)

    footer = rendered.body.split("\n-- \n", 1)[1]
    for required in ("株式会社サンプル", "東京都千代田区1-1", "03-0000-0000"):
        assert required in footer
    assert rendered.unsubscribe_url in footer
    assert rendered.unsubscribe_url.startswith("http://127.0.0.1:8000/unsubscribe/")


@pytest.mark.parametrize("field", ["sender_name", "sender_postal_address", "sender_contact"])
def test_a_campaign_missing_a_sender_field_cannot_send(field):
    campaign = email_campaign(**{field: "  "})
    member = member_of(campaign)

    with pytest.raises(ValidationError) as error:
        mailer.email_send_member(member_id=member.pk)

    assert field in error.value.message_dict
    assert "特定電子メール法" in error.value.message_dict[field][0]
    assert mail.outbox == []
    assert refreshed(member).status == MemberStatus.QUEUED
    assert not ContactAttempt.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        "{% load humanize %}{{ name }}",  # no tag libraries
        "{% include 'base.html' %}",  # no loaders: nothing on disk is reachable
        "{% extends 'base.html' %}",
        "{{ name.__class__ }}",
        "{% if %}",
    ],
)
def test_templates_are_sandboxed_and_a_broken_one_is_refused_before_sending(body):
    campaign = email_campaign(email_body=body)
    with pytest.raises(ValidationError) as error:
        mailer.email_check(campaign)
    assert "email_body" in error.value.message_dict


def test_the_message_carries_one_click_unsubscribe_headers_and_the_sender_name():
    campaign = email_campaign()
    member = member_of(campaign)

    mailer.email_send_member(member_id=member.pk)

    (message,) = mail.outbox
    link = f"<http://127.0.0.1:8000{unsubscribe_path(message)}>"
    assert message.extra_headers["List-Unsubscribe"] == link
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.extra_headers["Message-ID"] == f"<email.{member.pk}.1@127.0.0.1>"
    sender = str(make_header(decode_header(message.message()["From"])))
    assert sender == "株式会社サンプル <webmaster@localhost>"


# --------------------------------------------------------------------------------------------
# Sending once
# --------------------------------------------------------------------------------------------


def test_the_task_sends_once_per_member_even_when_it_runs_twice():
    campaign = email_campaign()
    member = member_of(campaign)

    first = email_send_member_task.delay(member.pk).get()
    second = email_send_member_task.delay(member.pk).get()

    assert (first, second) == ("sent", "skipped")
    assert len(mail.outbox) == 1
    (attempt,) = ContactAttempt.objects.all()
    assert attempt.idempotency_key == f"email:{member.pk}:1"
    assert attempt.disposition.code == "email_sent" and attempt.agent is None
    assert attempt.address == member.customer.email
    member = refreshed(member)
    assert member.status == MemberStatus.DONE and member.close_reason == CloseReason.FINAL
    assert member.attempts == 1


def test_a_recorded_idempotency_key_is_never_sent_again():
    campaign = email_campaign()
    member = member_of(campaign)
    ContactAttempt.objects.create(
        idempotency_key=f"email:{member.pk}:1",
        member=member,
        campaign=campaign,
        customer=member.customer,
        channel="email",
        disposition=mailer._disposition("email_sent"),
        attempted_at=timezone.now(),
    )

    result = mailer.email_send_member(member_id=member.pk)

    assert result.outcome == "skipped" and result.reason == "already_sent"
    assert mail.outbox == []
    assert refreshed(member).status == MemberStatus.DONE


def test_a_member_not_due_held_out_or_held_by_an_agent_is_not_sent(agent_x):
    campaign = email_campaign()
    later = member_of(campaign, due_at=timezone.now() + timedelta(hours=2))
    held_out = member_of(campaign, group="holdout", status=MemberStatus.HELD_OUT)
    claimed = member_of(
        campaign,
        status=MemberStatus.CLAIMED,
        claimed_by=agent_x,
        claim_expires_at=timezone.now() + timedelta(minutes=10),
    )

    assert mailer.email_send_member(member_id=later.pk).reason == "not_due"
    assert mailer.email_send_member(member_id=held_out.pk).outcome == "skipped"
    assert mailer.email_send_member(member_id=claimed.pk).outcome == "skipped"
    assert mail.outbox == []
    assert refreshed(claimed).status == MemberStatus.CLAIMED


# --------------------------------------------------------------------------------------------
# Compliance at the moment of sending
# --------------------------------------------------------------------------------------------


def _withdraw(customer):
    # Written directly (as an import would), so the member is still waiting: the sender must
    # notice by itself.
    ConsentRecord.objects.create(
        customer=customer,
        channel=Channel.EMAIL,
        status=ConsentRecord.Status.WITHDRAWN,
        source="import",
        recorded_at=timezone.now() - timedelta(minutes=1),
    )


@pytest.mark.parametrize(
    ("arrange", "reason"),
    [
        (_withdraw, CloseReason.EMAIL_OPTED_OUT),
        (
            lambda c: DoNotContact.objects.create(scope="email", email=c.email, reason="bounced"),
            CloseReason.EMAIL_DO_NOT_CONTACT,
        ),
        (
            lambda c: DoNotContact.objects.create(scope="customer", customer=c, reason="request"),
            CloseReason.DO_NOT_CONTACT,
        ),
        (lambda c: c.consents.all().delete(), CloseReason.NO_EMAIL_CONSENT),
    ],
    ids=["opted-out", "address-listed", "do-not-contact", "no-consent"],
)
def test_consent_opt_out_and_do_not_contact_are_checked_when_sending(arrange, reason):
    campaign = email_campaign()
    member = member_of(campaign)
    arrange(member.customer)

    result = mailer.email_send_member(member_id=member.pk)

    assert result.outcome == "set_aside" and result.reason == reason
    assert mail.outbox == []
    member = refreshed(member)
    assert member.status == MemberStatus.EXCLUDED and member.close_reason == reason
    assert not ContactAttempt.objects.exists()


def test_the_frequency_cap_puts_the_member_back_until_it_clears():
    campaign = email_campaign(frequency_cap_contacts=1, frequency_cap_days=7)
    member = member_of(campaign)
    contacted_at = timezone.now() - timedelta(days=2)
    ContactAttempt.objects.create(
        idempotency_key="earlier-call",
        campaign=CampaignFactory(),
        customer=member.customer,
        channel="call",
        disposition=mailer._disposition("email_sent"),
        attempted_at=contacted_at,
    )

    result = mailer.email_send_member(member_id=member.pk)

    assert result.reason == "frequency_cap" and mail.outbox == []
    member = refreshed(member)
    assert member.status == MemberStatus.QUEUED
    assert member.due_at == contacted_at + timedelta(days=7)


def test_a_paused_campaign_sends_nothing():
    campaign = email_campaign()
    member = member_of(campaign)
    campaign.state = CampaignState.PAUSED
    campaign.save()

    assert mailer.email_campaign_send(campaign_id=campaign.pk).stopped == "not_running"
    assert mailer.email_send_member(member_id=member.pk).reason == "campaign_not_running"
    assert mail.outbox == []
    assert refreshed(member).status == MemberStatus.QUEUED


# --------------------------------------------------------------------------------------------
# Bounces
# --------------------------------------------------------------------------------------------


@pytest.fixture
def refusing_server(monkeypatch):
    """The mail server refuses one address, as an SMTP backend reports it."""
    refused: set[str] = set()
    original = EmailBackend.send_messages

    def send_messages(self, messages):
        for message in messages:
            if set(message.to) & refused:
                raise smtplib.SMTPRecipientsRefused({message.to[0]: (550, b"5.1.1 User unknown")})
        return original(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", send_messages)
    return refused


def test_a_refused_recipient_is_logged_as_bounced_and_the_address_is_listed(refusing_server):
    campaign = email_campaign()
    member = member_of(campaign)
    refusing_server.add(member.customer.email)
    other_campaign = email_campaign(name="別キャンペーン")
    same_address = member_of(other_campaign, customer=member.customer)

    result = mailer.email_send_member(member_id=member.pk)

    assert result.outcome == "bounced" and "User unknown" in result.reason
    (attempt,) = ContactAttempt.objects.all()
    assert attempt.disposition.code == "bounced" and "550" in attempt.notes
    assert refreshed(member).status == MemberStatus.DONE
    listed = DoNotContact.objects.get(scope="email", email=member.customer.email)
    assert listed.reason == DoNotContact.Reason.BOUNCED
    # The next campaign to that address finds it unusable.
    assert mailer.email_send_member(member_id=same_address.pk).reason == "email_dnc"
    assert mail.outbox == []


# --------------------------------------------------------------------------------------------
# Batches
# --------------------------------------------------------------------------------------------


def test_the_batch_sends_in_launch_order_and_skips_a_customer_who_unsubscribed_meanwhile(client):
    campaign = email_campaign()
    launched = timezone.now() - timedelta(hours=1)
    members = [member_of(campaign, rank=rank, due_at=launched) for rank in (5, 1, 4, 2, 3, 6, 7)]
    by_rank = sorted(members, key=lambda m: m.rank)
    earlier = email_campaign(name="前回のキャンペーン")

    first = mailer.email_campaign_send(campaign_id=campaign.pk, batch_size=2)
    assert first.counts == {"sent": 2} and first.remaining
    # Rank 4 unsubscribes through the link of an earlier campaign's e-mail.
    token = mailer.unsubscribe_token(customer_id=by_rank[3].customer_id, campaign_id=earlier.pk)
    assert client.post(f"/unsubscribe/{token}/").status_code == 200
    email_campaign_send_task.delay(campaign.pk, 2)  # re-queues itself until done

    assert [m.to[0] for m in mail.outbox] == [by_rank[i].customer.email for i in (0, 1, 2, 4, 5, 6)]
    assert refreshed(by_rank[3]).close_reason == CloseReason.EMAIL_OPTED_OUT
    assert {refreshed(m).status for m in by_rank} == {MemberStatus.DONE, MemberStatus.EXCLUDED}
    assert mailer.email_campaign_send(campaign_id=campaign.pk).handled == 0


def test_the_batch_leaves_members_assigned_to_an_agent_for_their_personal_send(team, agent_x):
    campaign = email_campaign()
    team.campaigns.add(campaign)
    mine = member_of(campaign, owner=agent_x)
    anyone = member_of(campaign)

    mailer.email_campaign_send(campaign_id=campaign.pk)

    assert [m.to for m in mail.outbox] == [[anyone.customer.email]]
    assert refreshed(mine).status == MemberStatus.QUEUED


def test_the_beat_starts_a_batch_for_each_running_email_campaign_with_members_due(
    django_capture_on_commit_callbacks,
):
    due = email_campaign()
    member_of(due)
    paused = email_campaign(state=CampaignState.PAUSED)
    member_of(paused)
    waiting = email_campaign()
    member_of(waiting, due_at=timezone.now() + timedelta(days=1))

    with django_capture_on_commit_callbacks(execute=True):
        assert mailer.email_campaigns_send_due() == [due.pk]

    assert len(mail.outbox) == 1


def test_the_beat_adds_no_batch_to_a_campaign_whose_batch_is_still_sending():
    campaign = email_campaign()
    sent, waiting = member_of(campaign, rank=1), member_of(campaign, rank=2)
    mailer.email_campaign_send(campaign_id=campaign.pk, batch_size=1)
    assert refreshed(sent).status == MemberStatus.DONE

    assert mailer.email_campaigns_send_due() == []
    # Quiet for longer than a live batch would be: its chain died, start another.
    later = timezone.now() + mailer.BATCH_ALIVE + timedelta(seconds=1)
    assert mailer.email_campaigns_send_due(now=later) == [campaign.pk]
    assert refreshed(waiting).status == MemberStatus.QUEUED


def test_an_agent_sends_the_email_of_the_member_they_hold_once(team, agent_x):
    campaign = email_campaign()
    team.campaigns.add(campaign)
    member = member_of(campaign)
    held = claim_next(agent=agent_x).member

    first = mailer.email_send_claimed(member=held, agent=agent_x)
    again = mailer.email_send_claimed(member=held, agent=agent_x)

    assert first.outcome == "sent" and again.outcome == "set_aside"
    assert len(mail.outbox) == 1
    (attempt,) = ContactAttempt.objects.all()
    assert attempt.agent == agent_x and attempt.idempotency_key == f"email:{member.pk}:1"
    assert refreshed(member).status == MemberStatus.DONE


# --------------------------------------------------------------------------------------------
# Unsubscribe page
# --------------------------------------------------------------------------------------------


def test_the_unsubscribe_link_shows_a_confirmation_and_post_opts_out_everywhere_at_once():
    campaign = email_campaign()
    member = member_of(campaign)
    customer = member.customer
    other_email = member_of(email_campaign(name="次のキャンペーン"), customer=customer)
    call = member_of(CampaignFactory(state=CampaignState.RUNNING), customer=customer)
    mailer.email_send_member(member_id=member.pk)
    path = unsubscribe_path(mail.outbox[0])
    anonymous = Client(enforce_csrf_checks=True)

    page = anonymous.get(path)

    assert page.status_code == 200 and b"<form" in page.content
    assert not ConsentRecord.objects.filter(customer=customer, status="withdrawn").exists()

    done = anonymous.post(path, {"confirm": "1"})

    assert done.status_code == 200
    withdrawal = ConsentRecord.objects.get(customer=customer, status="withdrawn")
    assert withdrawal.source == "unsubscribe link"
    assert f"campaign #{campaign.pk}" in withdrawal.evidence
    assert withdrawal.recorded_at.isoformat() in withdrawal.evidence
    logged = ContactAttempt.objects.get(disposition__code="unsubscribed")
    assert logged.member == member and logged.campaign == campaign
    other_email = refreshed(other_email)
    assert other_email.status == MemberStatus.EXCLUDED
    assert other_email.close_reason == CloseReason.EMAIL_OPTED_OUT
    assert refreshed(call).status == MemberStatus.QUEUED  # calls are not affected

    # Idempotent: again, and again as a one-click request, changes nothing.
    assert anonymous.post(path).status_code == 200
    assert anonymous.post(path, {"List-Unsubscribe": "One-Click"}).status_code == 200
    assert ConsentRecord.objects.filter(customer=customer, status="withdrawn").count() == 1
    assert ContactAttempt.objects.filter(disposition__code="unsubscribed").count() == 1


def test_one_click_unsubscribe_works_without_cookies_or_csrf_token():
    campaign = email_campaign()
    member = member_of(campaign)
    token = mailer.unsubscribe_token(customer_id=member.customer_id, campaign_id=campaign.pk)

    response = Client(enforce_csrf_checks=True).post(
        f"/unsubscribe/{token}/",
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    withdrawal = ConsentRecord.objects.get(customer=member.customer, status="withdrawn")
    assert "RFC 8058" in withdrawal.evidence
    assert refreshed(member).close_reason == CloseReason.EMAIL_OPTED_OUT


@pytest.mark.parametrize("tamper", ["flip", "other-salt", "unknown-customer"])
def test_a_tampered_or_unknown_token_is_a_404_with_a_clear_message(tamper):
    campaign = email_campaign()
    member = member_of(campaign)
    token = mailer.unsubscribe_token(customer_id=member.customer_id, campaign_id=campaign.pk)
    if tamper == "flip":
        token = token.replace(str(member.customer_id), str(member.customer_id + 1), 1)
        token = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    elif tamper == "other-salt":
        from django.core import signing

        token = signing.Signer().sign_object({"c": member.customer_id, "k": campaign.pk})
    else:
        token = mailer.unsubscribe_token(customer_id=999_999, campaign_id=campaign.pk)

    for response in (
        Client().get(f"/unsubscribe/{token}/"),
        Client().post(f"/unsubscribe/{token}/"),
    ):
        assert response.status_code == 404
        assert "not valid" in response.content.decode() or "無効" in response.content.decode()
    assert not ConsentRecord.objects.filter(status="withdrawn").exists()


def test_the_unsubscribe_page_needs_no_login_but_other_pages_still_do():
    campaign = email_campaign()
    token = mailer.unsubscribe_token(customer_id=CustomerFactory().pk, campaign_id=campaign.pk)
    assert Client().get(f"/unsubscribe/{token}/").status_code == 200
    assert Client().get("/campaigns/").status_code == 302


# --------------------------------------------------------------------------------------------
# Concurrency (PostgreSQL: two sessions really at once)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def slow_mail_server(monkeypatch):
    """Sending takes a while, so a second sender arrives while the first holds the lock."""
    original = EmailBackend.send_messages

    def send_messages(self, messages):
        time.sleep(0.3)
        return original(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", send_messages)


def _in_threads(*targets):
    errors: list[BaseException] = []

    def run(target):
        try:
            target()
        except BaseException as error:  # reported by the test
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(t,), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a sender hung"
    assert errors == []


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_sending_the_same_member_at_once_send_one_email(postgres, slow_mail_server):
    campaign = email_campaign()
    member = member_of(campaign)
    outcomes: list[str] = []

    def send():
        outcomes.append(mailer.email_send_member(member_id=member.pk).outcome)

    _in_threads(send, send)

    assert sorted(outcomes) == ["sent", "skipped"]
    assert len(mail.outbox) == 1
    assert ContactAttempt.objects.count() == 1


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_batches_of_one_campaign_share_the_members_without_sending_twice(
    postgres, slow_mail_server
):
    campaign = email_campaign()
    members = [member_of(campaign, rank=rank) for rank in range(6)]

    def batch():
        mailer.email_campaign_send(campaign_id=campaign.pk, batch_size=10)

    _in_threads(batch, batch)

    assert sorted(m.to[0] for m in mail.outbox) == sorted(m.customer.email for m in members)
    assert ContactAttempt.objects.count() == 6
    assert {refreshed(m).status for m in members} == {MemberStatus.DONE}
