from celery import shared_task


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
