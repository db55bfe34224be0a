from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from campaigns.models import CampaignState
from tests.factories import CampaignFactory, TeamFactory, agent_on

TOKYO = ZoneInfo("Asia/Tokyo")
# A Tuesday, no holiday, inside the 9:00–20:00 window in Tokyo.
WORKING_HOURS = datetime(2026, 12, 1, 11, 0, tzinfo=TOKYO)


@pytest.fixture
def now():
    return WORKING_HOURS


@pytest.fixture
def team(db):
    return TeamFactory()


@pytest.fixture
def running_campaign(team):
    """A running call campaign the ``team`` works on; members are added by the test."""
    campaign = CampaignFactory(state=CampaignState.RUNNING)
    team.campaigns.add(campaign)
    return campaign


@pytest.fixture
def agent_x(team):
    return agent_on(team, username="agent-x")


@pytest.fixture
def agent_y(team):
    return agent_on(team, username="agent-y")
