from celery import shared_task


@shared_task(name="campaigns.tasks.campaign_results_refresh", acks_late=True)
def campaign_results_refresh_task(campaign_id: int, window_days: int) -> int:
    """Recompute one campaign's result snapshot for one window. Idempotent (replaces the row)."""
    from campaigns.models import Campaign
    from campaigns.results import campaign_results_refresh

    campaign = Campaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return 0
    return campaign_results_refresh(campaign=campaign, window_days=window_days).duration_ms


@shared_task(name="campaigns.tasks.campaign_results_refresh_active")
def campaign_results_refresh_active_task() -> list[list[int]]:
    """Beat (every 15 minutes): one refresh task per window of each running or paused campaign."""
    from campaigns.results import campaign_results_refresh_active

    pairs = campaign_results_refresh_active()
    for campaign_id, window_days in pairs:
        campaign_results_refresh_task.delay(campaign_id, window_days)
    return [list(pair) for pair in pairs]
