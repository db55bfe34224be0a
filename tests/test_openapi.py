"""The OpenAPI schema: generated without warnings, served to signed-in users only, and honoured by
every endpoint (schemathesis: no 5xx, documented status codes, content types and bodies). Plus the
role boundary over every endpoint the schema lists: agents get 403 on supervisor endpoints,
anonymous callers 401/403 everywhere.

The schemathesis run is bounded (a few examples per operation, derandomized) so CI stays under
a minute or so; it runs on the test database with customers, two segmentation runs, an import job
and a launched campaign, and path ids are drawn from those rows as well as at random.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import close_old_connections
from django.test import Client
from drf_spectacular.drainage import reset_generator_stats
from drf_spectacular.generators import EndpointEnumerator
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from campaigns.models import CampaignState
from config.permissions import IsSupervisor
from config.wsgi import application
from customers.models import Customer, ImportTemplate, Segment
from customers.services.imports import import_job_create
from customers.services.segments import segmentation_run
from outreach.launch import campaign_launch_start
from outreach.models import CampaignMember
from tests.factories import CampaignFactory, TeamFactory, agent_on, purchase_days_ago

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# Examples per operation: positive ones fit the schema, negative ones break it (expect 400s).
EXAMPLES = {GenerationMode.POSITIVE: 10, GenerationMode.NEGATIVE: 5}


@pytest.fixture
def api_data(db, supervisor, django_capture_on_commit_callbacks) -> dict[str, list[int]]:
    """A small shop: customers with purchases, two full segmentation runs, an import job with a
    template, a launched campaign with members. Returns the ids per path parameter name."""
    people = [
        Customer.objects.create(
            external_id=f"K{n}", name=f"顧客 {n}", prefecture="東京都", phone=f"+8135000000{n}"
        )
        for n in range(6)
    ]
    for n, person in enumerate(people[:5]):
        for k in range(n + 1):
            purchase_days_ago(person, 10 + 200 * n + k, 3_000 * (n + 1), f"O{n}-{k}")
    segmentation_run(cause="manual")
    purchase_days_ago(people[0], 1, 50_000, "O-again")
    segmentation_run(cause="manual")

    job = import_job_create(
        kind="customers",
        file=SimpleUploadedFile("list.csv", b"external_id,name\nX1,Alice\n"),
        created_by=supervisor,
    )
    ImportTemplate.objects.create(name="Basic", kind="customers", mapping={"name": "name"})

    team = TeamFactory()
    agent_on(team, username="api-agent")
    campaign = CampaignFactory(state=CampaignState.SCHEDULED)
    campaign.target_segments.set(Segment.objects.all())
    team.campaigns.add(campaign)
    with django_capture_on_commit_callbacks(execute=True):
        campaign_launch_start(campaign=campaign)
    draft = CampaignFactory()
    return {
        "customer_id": [p.pk for p in people],
        "segment_id": list(Segment.objects.values_list("pk", flat=True)),
        "job_id": [job.pk],
        "campaign_id": [campaign.pk, draft.pk],
        "member_id": list(CampaignMember.objects.values_list("pk", flat=True)),
    }


@pytest.fixture
def supervisor_token(supervisor) -> str:
    return Token.objects.create(user=supervisor).key


@pytest.fixture
def wsgi_keeps_test_connection():
    """schemathesis calls the WSGI app directly, not through Django's test client: keep the
    request signals from closing the test transaction's connection (as the test client does)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(api_data, supervisor_token, wsgi_keeps_test_connection):
    headers = {"Authorization": f"Token {supervisor_token}"}
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", application, headers=headers
    )

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        # Mostly ids that exist (real objects), sometimes the random one (404s).
        if not path_parameters:
            return st.just(path_parameters)
        return st.fixed_dictionaries(
            {
                name: st.sampled_from([*api_data[name], value])
                if name in api_data
                else st.just(value)
                for name, value in path_parameters.items()
            }
        )

    return schema


# schemathesis' own pytest integration (``from_fixture`` + ``parametrize``) does not run on
# pytest 9 (it rewrites ``node._nodeid``); the loop below is the same stateless run: one bounded
# Hypothesis test per operation and generation mode, reported as a subtest each.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_honours_the_schema(api_schema, supervisor_token, subtests, mode):
    headers = {"Authorization": f"Token {supervisor_token}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        # (Headers and cookies here are only the auth schemes, sent by us.)
        inputs = (operation.path_parameters, operation.query, operation.body)
        if mode == GenerationMode.NEGATIVE and not any(len(part) for part in inputs):
            continue  # nothing the caller sends, so nothing to get wrong
        with subtests.test(msg=f"{operation.method.upper()} {operation.path}"):

            @settings(
                max_examples=EXAMPLES[mode],
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case):
                case.call_and_validate(headers=headers, checks=CHECKS)

            run()


def test_schema_generates_without_warnings(tmp_path):
    # --fail-on-warn: an endpoint added without annotations (a guessed body, an unknown type)
    # fails here rather than shipping a wrong schema. (The counter is process-wide: start clean.)
    reset_generator_stats()
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yaml"))


def test_schema_and_docs_are_for_signed_in_users_and_served_without_a_cdn(supervisor_client):
    anonymous = Client()
    assert anonymous.get("/api/schema/").status_code in (401, 403)
    assert anonymous.get("/api/docs/").status_code in (401, 403)

    schema = supervisor_client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    body = schema.json()
    assert body["openapi"].startswith("3.")
    assert {"cookieAuth", "tokenAuth"} <= set(body["components"]["securitySchemes"])

    docs = supervisor_client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    asset = supervisor_client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css")
    assert asset.status_code == 200


def _api_endpoints():
    """(path with ids filled in, method, view class) for every API operation."""
    for path, _regex, method, callback in EndpointEnumerator().get_api_endpoints():
        url = path
        while "{" in url:
            start = url.index("{")
            url = url[:start] + "1" + url[url.index("}", start) + 1 :]
        yield url, method, callback.cls


def _supervisor_only(view_class) -> bool:
    return any(
        isinstance(p, type) and issubclass(p, IsSupervisor)
        for p in getattr(view_class, "permission_classes", [])
    )


def _call(client, method: str, url: str):
    return getattr(client, method.lower())(url, content_type="application/json", data={})


@pytest.mark.django_db
def test_agents_get_403_on_every_supervisor_endpoint(agent_client):
    endpoints = [(u, m, v) for u, m, v in _api_endpoints() if _supervisor_only(v)]
    assert len(endpoints) > 15  # the schema really lists them
    answers = {f"{m} {u}": _call(agent_client, m, u).status_code for u, m, v in endpoints}
    assert answers == dict.fromkeys(answers, 403)


@pytest.mark.django_db
def test_anonymous_callers_get_401_or_403_everywhere(client):
    endpoints = list(_api_endpoints())
    answers = {f"{m} {u}": _call(client, m, u).status_code for u, m, v in endpoints}
    refused = {k: code for k, code in answers.items() if code not in (401, 403)}
    assert refused == {}
    # And with a token that does not exist: 401/403 too, never a 5xx or data.
    bad = Client(HTTP_AUTHORIZATION="Token not-a-real-token")
    answers = {f"{m} {u}": _call(bad, m, u).status_code for u, m, v in endpoints}
    assert {k: c for k, c in answers.items() if c not in (401, 403)} == {}
