"""Reads for campaigns (results live in ``campaigns.results``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.db.models import QuerySet

from campaigns.filters import CampaignFilter
from campaigns.models import Campaign


def campaign_list(*, filters: Mapping[str, Any] | None = None) -> QuerySet[Campaign]:
    """Campaigns, highest priority first, narrowed by ``CampaignFilter`` (invalid values ignored)."""
    queryset = Campaign.objects.select_related("launch").order_by("-priority", "-id")
    # An invalid field (unknown state, bad date) is left out of cleaned_data and so ignored.
    return CampaignFilter(data=filters or {}, queryset=queryset).qs
