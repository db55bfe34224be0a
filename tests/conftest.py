import os

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection

from config.roles import AGENT, SUPERVISOR

# In CI these markers must never be skipped: a skip there means the suite did not test what it says.
REQUIRED_MARKERS = ("postgres_only", "celery_worker", "browser")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI_REQUIRE_ALL") and report.skipped:
        required = [m for m in REQUIRED_MARKERS if item.get_closest_marker(m)]
        if required:
            report.outcome = "failed"
            report.longrepr = f"CI requires {', '.join(required)} tests to run, but this one was skipped: {report.longrepr}"


@pytest.fixture
def english():
    """Messages are asserted in English; the product's default language is Japanese.
    Modules ask for it with ``pytest.mark.usefixtures("english")``."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def english_site(settings, english):
    """``english``, and English as the site's default language too (``LANGUAGE_CODE``)."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def postgres(db):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL)")


def _user(username: str, role: str):
    user = get_user_model().objects.create_user(username=username, password="pass-1234-word")
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def supervisor(db):
    return _user("sup", SUPERVISOR)


@pytest.fixture
def agent(db):
    return _user("agent1", AGENT)


@pytest.fixture
def supervisor_client(client, supervisor):
    client.force_login(supervisor)
    return client


@pytest.fixture
def agent_client(client, agent):
    client.force_login(agent)
    return client


@pytest.fixture
def api_client(supervisor):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(supervisor)
    return client
