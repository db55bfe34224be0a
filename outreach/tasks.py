import smtplib

from celery import shared_task

# A mail server that is down or drops the connection: nothing was recorded, try again later.
_EMAIL_TRANSIENT = (smtplib.SMTPException, OSError)


@shared_task(name="outreach.tasks.campaign_launch", acks_late=True)
def campaign_launch_task(campaign_id: int) -> str:
    """Materialise a campaign's members. Safe to deliver twice: only one worker claims it."""
    from outreach.launch import campaign_launch_run

    return campaign_launch_run(campaign_id=campaign_id).status


@shared_task(name="outreach.tasks.campaigns_launch_due")
def campaigns_launch_due_task() -> list[int]:
    """Beat: launch scheduled campaigns whose start date has come."""
    from outreach.launch import campaigns_launch_due

    return campaigns_launch_due()


@shared_task(name="outreach.tasks.claims_expire")
def claims_expire_task() -> int:
    """Beat: claims held past their expiry go back to the queue."""
    from outreach.claiming import claims_expire

    return claims_expire()


@shared_task(
    name="outreach.tasks.email_send_member",
    acks_late=True,
    autoretry_for=_EMAIL_TRANSIENT,
    retry_backoff=60,
    max_retries=5,
)
def email_send_member_task(member_id: int) -> str:
    """Send one member their campaign's e-mail. Safe to run twice, even at once: at most one
    e-mail per member (row lock + idempotency key, see ``outreach.email``)."""
    from outreach.email import email_send_member

    return email_send_member(member_id=member_id).outcome


@shared_task(
    name="outreach.tasks.email_campaign_send",
    acks_late=True,
    autoretry_for=_EMAIL_TRANSIENT,
    retry_backoff=60,
    max_retries=5,
)
def email_campaign_send_task(campaign_id: int, batch_size: int | None = None) -> dict:
    """Send one batch of a running e-mail campaign in launch order, then re-queue while due
    members remain. Two of these on one campaign share the work (SKIP LOCKED)."""
    from outreach.email import email_campaign_send

    result = email_campaign_send(campaign_id=campaign_id, batch_size=batch_size)
    # No progress means another batch holds the rest; it re-queues itself.
    if result.remaining and result.handled:
        email_campaign_send_task.delay(campaign_id, batch_size)
    return dict(result.counts)


@shared_task(name="outreach.tasks.email_campaigns_send_due")
def email_campaigns_send_due_task() -> list[int]:
    """Beat: start a batch for each running e-mail campaign with members due."""
    from outreach.email import email_campaigns_send_due

    return email_campaigns_send_due()


@shared_task(name="outreach.tasks.agent_daily_stats_refresh")
def agent_daily_stats_refresh_task(days: int = 3) -> int:
    """Beat (hourly): rebuild the agent statistics of the last ``days`` complete days, so a
    missed run heals itself. Idempotent; today is always read live by the performance page."""
    from datetime import timedelta

    from django.utils import timezone

    from outreach.performance import agent_daily_stats_rebuild

    today = timezone.localdate()
    return agent_daily_stats_rebuild(start=today - timedelta(days=days), end=today)
