"""Segment pages and API: counts, members, preview, rule editing, explain, transitions, matrix,
runs and who may see them."""

import re

import pytest
from django.test import TestCase
from django.utils import timezone
from django.utils.html import escape

from customers.models import (
    Customer,
    CustomerRfm,
    Segment,
    SegmentationRun,
    SegmentTransition,
)
from customers.segmentation.conditions import ConditionError, validate_conditions
from customers.segmentation.scoring import current_settings
from customers.services.segments import segmentation_run
from tests.factories import purchase_days_ago

pytestmark = pytest.mark.django_db

# Today: runs started from the pages and the API (Celery is eager) score as of today.
REF = timezone.localdate()
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}

R5_ONLY = {"all": [{"field": "r", "op": "eq", "value": 5}]}
UNKNOWN_FIELD = {"all": [{"field": "nickname", "op": "eq", "value": "x"}]}
SCORE_SIX = {"all": [{"field": "r", "op": "in", "value": [5, 6]}]}


@pytest.fixture
def shop():
    """Fixed cut-offs so every score is known:

    A  five orders this month            R5 F4 M4  champions
    B  one order 10 days ago (東京都)      R5 F1 M1  new
    B2 one order 20 days ago (大阪府)      R5 F1 M2  new
    C  one order 60 days ago             R4 F1 M1  promising
    D  never bought                      –         no_purchase
    E  one order 1000 days ago           R1 F1 M1  lost
    """
    settings = current_settings()
    settings.method = "cutoffs"
    settings.lookback_days = 730
    settings.recency_cutoffs = [30, 90, 180, 365]
    settings.frequency_cutoffs = [2, 3, 5, 10]
    settings.monetary_cutoffs = [10_000, 30_000, 80_000, 200_000]
    settings.save()

    def person(key, name, prefecture="東京都"):
        return Customer.objects.create(external_id=key, name=name, prefecture=prefecture)

    people = {
        "A": person("A", "優良 花子"),
        "B": person("B", "新規 一郎"),
        "B2": person("B2", "新規 二郎", "大阪府"),
        "C": person("C", "有望 三郎"),
        "D": person("D", "未購入 四郎"),
        "E": person("E", "離反 五郎"),
    }
    for n in range(5):
        purchase_days_ago(people["A"], n + 1, 20_000, f"A{n}")
    purchase_days_ago(people["B"], 10, 3_000, "B0")
    purchase_days_ago(people["B2"], 20, 15_000, "B20")
    purchase_days_ago(people["C"], 60, 3_000, "C0")
    purchase_days_ago(people["E"], 1000, 3_000, "E0")
    return people


@pytest.fixture
def scored(shop):
    run = segmentation_run(cause="manual", reference_date=REF)
    return shop, run


@pytest.fixture
def moved(scored):
    """A second full run after B bought again: B goes from new to potential loyalist."""
    people, first = scored
    purchase_days_ago(people["B"], 5, 4_000, "B1")
    second = segmentation_run(cause="manual", reference_date=REF)
    return people, first, second


def _segment(key: str) -> Segment:
    return Segment.objects.get(key=key)


def _segment_of(customer) -> str | None:
    row = CustomerRfm.objects.select_related("segment").get(customer=customer)
    return row.segment.key if row.segment else None


def _row(html: str, segment: Segment) -> str:
    match = re.search(rf'<tr id="segment-{segment.pk}".*?</tr>', html, re.S)
    assert match, f"no row for {segment.key}"
    return match.group(0)


def _members_cell(html: str, segment: Segment) -> int:
    cell = re.search(r'class="num members">([\d,]+)<', _row(html, segment))
    return int(cell.group(1).replace(",", ""))


def _member_ids(html: str) -> set[str]:
    table = re.search(r'<table class="dense" id="members">.*?</table>', html, re.S).group(0)
    return set(re.findall(r'<a href="/customers/\d+/">([^<]+)</a>', table))


def _condition_message(conditions) -> str:
    with pytest.raises(ConditionError) as error:
        validate_conditions(conditions)
    return error.value.messages[0]


# -- the segment list -------------------------------------------------------------------------


def test_list_page_shows_rule_order_counts_trend_and_runs(supervisor_client, scored):
    html = supervisor_client.get("/customers/segments/", **EN).content.decode()

    counts = dict.fromkeys(Segment.objects.values_list("key", flat=True), 0)
    counts.update(champions=1, new=2, promising=1, no_purchase=1, lost=1)
    for segment in Segment.objects.all():
        assert _members_cell(html, segment) == counts[segment.key], segment.key
    keys = re.findall(r'<tr id="segment-\d+" data-key="([^"]+)"', html)
    assert keys == list(Segment.objects.order_by("position", "id").values_list("key", flat=True))
    new_row = _row(html, _segment("new"))
    assert "New (one purchase)" in new_row
    assert "Orders ever = 1 and R in 5" in new_row  # the rule in words
    assert "<polyline" in new_row  # trend sparkline
    assert re.search(r'<table class="dense" id="runs">.*Started by a supervisor', html, re.S)
    assert 'href="/customers/segments/matrix/"' in html


def test_list_page_uses_the_japanese_names_in_japanese(supervisor_client, scored):
    html = supervisor_client.get("/customers/segments/", HTTP_ACCEPT_LANGUAGE="ja").content
    assert "新規（1回のみ）" in html.decode()


def test_resegment_now_starts_a_manual_run(supervisor_client, scored):
    people, _first = scored
    purchase_days_ago(people["D"], 3, 2_000, "D0")  # D is no longer a non-buyer
    before = SegmentationRun.objects.count()

    response = supervisor_client.post("/customers/segments/resegment/")

    assert response.status_code == 302
    assert SegmentationRun.objects.count() == before + 1
    run = SegmentationRun.objects.order_by("-id").first()
    assert run.cause == "manual" and run.finished_at is not None
    assert _segment_of(people["D"]) == "new"


def test_nav_links_to_segments_for_supervisors(supervisor_client):
    assert 'href="/customers/segments/"' in supervisor_client.get("/customers/").content.decode()


# -- the segment detail: members and filters ---------------------------------------------------


def test_detail_page_lists_members_and_filters_them(supervisor_client, scored):
    url = f"/customers/segments/{_segment('new').pk}/"
    assert _member_ids(supervisor_client.get(url, **EN).content.decode()) == {"B", "B2"}

    cases = {
        "prefecture=大阪府": {"B2"},
        "m=2": {"B2"},
        "m=1": {"B"},
        "r=5": {"B", "B2"},
        "r=4": set(),
        "q=新規 一": {"B"},
        "q=B2": {"B2"},
    }
    for query, expected in cases.items():
        html = supervisor_client.get(f"{url}?{query}", **EN).content.decode()
        assert _member_ids(html) == expected, query


def test_detail_page_ignores_a_bad_score_filter_and_links_members(supervisor_client, scored):
    people, _run = scored
    url = f"/customers/segments/{_segment('new').pk}/"
    html = supervisor_client.get(f"{url}?r=9", **EN).content.decode()
    assert f'href="/customers/{people["B"].pk}/"' in html


def test_members_are_paginated_by_fifty(supervisor_client, scored):
    for n in range(55):
        Customer.objects.create(external_id=f"N{n:02}", name=f"未購入 {n}")
    segmentation_run(cause="manual", reference_date=REF)
    url = f"/customers/segments/{_segment('no_purchase').pk}/"
    first = supervisor_client.get(url, **EN).content.decode()
    second = supervisor_client.get(f"{url}?page=2", **EN).content.decode()
    assert len(_member_ids(first)) == 50
    assert len(_member_ids(second)) == 6  # 55 + D


# -- preview -----------------------------------------------------------------------------------


def test_preview_counts_alone_and_in_position(supervisor_client, scored):
    def preview(**data):
        html = supervisor_client.post("/customers/segments/preview/", data, **EN).content.decode()
        alone = int(re.search(r'data-matches="(\d+)"', html).group(1))
        in_position = int(re.search(r'data-in-position="(\d+)"', html).group(1))
        return alone, in_position

    rule = '{"all": [{"field": "r", "op": "eq", "value": 5}]}'
    assert preview(conditions=rule, position="5") == (3, 3)  # before champions: A, B, B2
    assert preview(conditions=rule, position="15") == (3, 2)  # champions take A first
    assert preview(conditions=rule, position="") == (3, 0)  # "Other" takes everyone left
    # Editing "new" in place: its own rule does not count as a rule before it.
    new = _segment("new")
    assert preview(conditions=rule, position=str(new.position), segment_id=str(new.pk)) == (3, 2)


def test_preview_shows_the_specific_message_for_a_bad_rule(supervisor_client, scored):
    import json

    html = supervisor_client.post(
        "/customers/segments/preview/", {"conditions": json.dumps(SCORE_SIX)}, **EN
    ).content.decode()
    assert escape(_condition_message(SCORE_SIX)) in html


def test_preview_api_returns_the_number_of_matches(api_client, scored):
    response = api_client.post(
        "/api/customers/segments/preview/", {"conditions": R5_ONLY}, format="json"
    )
    assert response.status_code == 200
    assert response.data["matches"] == 3
    response = api_client.post(
        "/api/customers/segments/preview/",
        {"conditions": R5_ONLY, "position": 15},
        format="json",
    )
    assert (response.data["matches"], response.data["in_position"]) == (3, 2)
    response = api_client.post(
        "/api/customers/segments/preview/", {"conditions": UNKNOWN_FIELD}, format="json"
    )
    assert response.status_code == 400
    assert response.data["conditions"] == [_condition_message(UNKNOWN_FIELD)]


# -- editing rules -------------------------------------------------------------------------------


def _form(segment: Segment, conditions: str, **overrides) -> dict:
    data = {
        "name": segment.name,
        "name_ja": segment.name_ja,
        "description": segment.description,
        "position": str(segment.position),
        "color": segment.color,
        "conditions": conditions,
    }
    if segment.is_active:
        data["is_active"] = "on"
    data.update(overrides)
    return data


@pytest.mark.parametrize("bad", [UNKNOWN_FIELD, SCORE_SIX], ids=["unknown-field", "score-6"])
def test_saving_a_bad_rule_shows_the_specific_message_and_changes_nothing(
    supervisor_client, scored, bad
):
    import json

    segment = _segment("new")
    before = (segment.name, segment.conditions, segment.updated_at)
    runs = SegmentationRun.objects.count()
    with TestCase.captureOnCommitCallbacks(execute=True) as queued:
        response = supervisor_client.post(
            f"/customers/segments/{segment.pk}/",
            _form(segment, json.dumps(bad), name="Renamed"),
            **EN,
        )
    assert queued == []  # no re-segmentation either
    assert SegmentationRun.objects.count() == runs
    assert response.status_code == 200
    html = response.content.decode()
    field = re.search(r'<div class="field has-error" id="field-conditions">.*?</div>', html, re.S)
    assert field, "the message is not next to the conditions"
    assert escape(_condition_message(bad)) in field.group(0)
    assert ("nickname" if bad is UNKNOWN_FIELD else "6") in field.group(0)
    segment.refresh_from_db()
    assert (segment.name, segment.conditions, segment.updated_at) == before


def test_saving_invalid_json_says_where(supervisor_client, scored):
    segment = _segment("new")
    response = supervisor_client.post(
        f"/customers/segments/{segment.pk}/", _form(segment, '{"all": [}'), **EN
    )
    assert "line 1, column 10" in response.content.decode()
    segment.refresh_from_db()
    assert segment.conditions["all"][0]["field"] == "purchase_count"


def test_saving_a_good_rule_works_and_resegmentation_applies_it(supervisor_client, scored):
    people, _run = scored
    segment = _segment("new")
    rule = (
        '{"all": [{"field": "r", "op": "eq", "value": 5}, {"field": "f", "op": "eq", "value": 1},'
        ' {"field": "recency_days", "op": "lte", "value": 15}]}'
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = supervisor_client.post(
            f"/customers/segments/{segment.pk}/", _form(segment, rule)
        )
    assert response.status_code == 302
    segment.refresh_from_db()
    assert segment.conditions["all"][2] == {"field": "recency_days", "op": "lte", "value": 15}
    # Saving queued a re-segmentation with the new rule (run in-process: Celery is eager).
    run = SegmentationRun.objects.order_by("-id").first()
    assert run.cause == "rule_change"
    assert _segment_of(people["B"]) == "new"
    assert _segment_of(people["B2"]) == "other"  # 20 days ago: no longer "new"
    assert SegmentTransition.objects.get(run=run).customer == people["B2"]


def test_a_new_segment_can_be_added_from_the_page(supervisor_client, scored):
    people, _run = scored
    page = supervisor_client.get("/customers/segments/new/", **EN)
    assert page.status_code == 200 and 'id="segment-form"' in page.content.decode()
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = supervisor_client.post(
            "/customers/segments/new/",
            {
                "name": "Osaka",
                "name_ja": "大阪",
                "position": "5",
                "is_active": "on",
                "color": "#123456",
                "conditions": '{"all": [{"field": "prefecture", "op": "eq", "value": "大阪府"}]}',
            },
        )
    assert response.status_code == 302
    segment = Segment.objects.get(name="Osaka")
    assert segment.key == "osaka"
    assert _segment_of(people["B2"]) == "osaka"


def test_a_new_segment_with_a_taken_key_is_refused_next_to_the_key(supervisor_client, scored):
    response = supervisor_client.post(
        "/customers/segments/new/",
        {"name": "X", "key": "new", "position": "5", "color": "#123456", "conditions": "{}"},
        **EN,
    )
    assert response.status_code == 200
    assert re.search(r'id="field-key">.*?field-error', response.content.decode(), re.S)
    assert not Segment.objects.filter(name="X").exists()


def test_segment_api_creates_reads_and_patches_with_specific_errors(api_client, scored):
    listing = api_client.get("/api/customers/segments/").data
    assert listing["count"] == Segment.objects.count()
    new = next(item for item in listing["results"] if item["key"] == "new")
    assert new["members"] == 2 and len(new["trend"]) == 1

    bad = api_client.post(
        "/api/customers/segments/", {"name": "Bad", "conditions": SCORE_SIX}, format="json"
    )
    assert bad.status_code == 400
    assert bad.data["conditions"] == [_condition_message(SCORE_SIX)]
    assert not Segment.objects.filter(name="Bad").exists()

    created = api_client.post(
        "/api/customers/segments/",
        {"name": "Recent", "position": 5, "conditions": R5_ONLY},
        format="json",
    )
    assert created.status_code == 201, created.data
    assert created.data["key"] == "recent"

    url = f"/api/customers/segments/{created.data['id']}/"
    assert api_client.get(url).data["conditions"] == R5_ONLY
    patched = api_client.patch(url, {"name_ja": "最近", "is_active": False}, format="json")
    assert patched.status_code == 200
    assert (patched.data["name_ja"], patched.data["is_active"]) == ("最近", False)
    refused = api_client.patch(url, {"conditions": UNKNOWN_FIELD}, format="json")
    assert refused.status_code == 400
    assert "nickname" in refused.data["conditions"][0]
    assert Segment.objects.get(pk=created.data["id"]).conditions == R5_ONLY


def test_members_api_filters_and_refuses_bad_scores(api_client, scored):
    url = f"/api/customers/segments/{_segment('new').pk}/members/"
    assert {row["external_id"] for row in api_client.get(url).data["results"]} == {"B", "B2"}
    rows = api_client.get(url, {"prefecture": "大阪府"}).data["results"]
    assert [row["external_id"] for row in rows] == ["B2"]
    assert api_client.get(url, {"q": "新規 一"}).data["count"] == 1
    assert api_client.get(url, {"m": 2, "r": 5}).data["count"] == 1
    assert api_client.get(url, {"r": 6}).status_code == 400


# -- explain -----------------------------------------------------------------------------------


def test_customer_page_loads_the_rfm_section(supervisor_client, scored):
    people, _run = scored
    html = supervisor_client.get(f"/customers/{people['B'].pk}/", **EN).content.decode()
    assert f'hx-get="/customers/{people["B"].pk}/rfm/"' in html
    assert 'id="purchases"' in html  # the existing content stays


def test_customer_rfm_section_explains_the_segment(supervisor_client, scored):
    people, _run = scored
    response = supervisor_client.get(
        f"/customers/{people['B'].pk}/rfm/", HTTP_HX_REQUEST="true", **EN
    )
    html = response.content.decode()
    assert "<html" not in html  # a partial for htmx
    assert re.search(r'id="rfm-segment">New \(one purchase\)<', html)
    assert re.search(r'<span class="score">R<b>5</b></span><span class="score">F<b>1</b>', html)
    edges = re.search(r'<ul class="edges" id="rfm-edges">.*?</ul>', html, re.S).group(0)
    assert "R5: ≤ 30 days, R4: ≤ 90 days" in edges
    assert "F2: ≥ 2 orders" in edges
    assert "M5: ≥ 200,000" in edges
    assert "Fixed cut-offs" in html and "look-back 730 days" in html
    rules = re.search(r'<ol class="rules" id="rfm-rules">.*?</ol>', html, re.S).group(0)
    tried = re.findall(r'<li class="(matched|missed)" data-key="([^"]+)"', rules)
    assert tried == [
        ("missed", "champions"),
        ("missed", "loyal"),
        ("matched", "new"),
    ]
    assert "✗ F in 4–5" in rules and "(actual: 1)" in rules
    history = re.search(r'id="segment-history">.*?</table>', html, re.S).group(0)
    assert "New (one purchase)" in history and "First placement" in history

    full = supervisor_client.get(f"/customers/{people['B'].pk}/rfm/", **EN).content.decode()
    assert "<html" in full and 'id="rfm-rules"' in full  # works without JavaScript too


def test_customer_rfm_section_for_a_customer_not_scored_yet(supervisor_client, shop):
    html = supervisor_client.get(f"/customers/{shop['A'].pk}/rfm/", **EN).content.decode()
    assert "Not scored yet" in html


def test_rfm_api_names_the_winner_and_the_edges(api_client, moved):
    people, _first, _second = moved
    data = api_client.get(f"/api/customers/{people['B'].pk}/rfm/", HTTP_ACCEPT_LANGUAGE="en").data
    assert data["scores"] == {"r": 5, "f": 2, "m": 1}
    assert data["values"]["recency_days"] == 5
    assert data["values"]["frequency"] == 2
    assert data["segment"]["key"] == "potential_loyalist"
    assert data["winner"]["key"] == "potential_loyalist" and data["stale"] is False
    assert data["method"] == "cutoffs" and data["lookback_days"] == 730
    assert data["edges"] == {
        "r": [365, 180, 90, 30],
        "f": [2.0, 3.0, 5.0, 10.0],
        "m": [10000.0, 30000.0, 80000.0, 200000.0],
    }
    assert data["edge_labels"]["f"][-2] == "F2: ≥ 2 orders"
    assert [rule["segment"]["key"] for rule in data["rules"]] == [
        "champions",
        "loyal",
        "new",
        "promising",
        "potential_loyalist",
    ]
    assert [rule["matched"] for rule in data["rules"]] == [False, False, False, False, True]
    last = data["rules"][-1]["checks"]
    assert [(c["field"], c["actual"], c["matched"]) for c in last] == [
        ("r", 5, True),
        ("f", 2, True),
    ]
    assert api_client.get(f"/api/customers/{people['D'].pk}/rfm/").data["winner"]["key"] == (
        "no_purchase"
    )


# -- transitions and the migration matrix -----------------------------------------------------


def test_transitions_api_after_a_customer_moved(api_client, moved):
    people, first, second = moved
    response = api_client.get("/api/customers/segment-transitions/", {"run": second.pk})
    assert response.data["count"] == 1
    (move,) = response.data["results"]
    assert move["customer"] == people["B"].pk
    assert (move["from_segment"]["key"], move["to_segment"]["key"]) == (
        "new",
        "potential_loyalist",
    )
    assert move["cause"] == "new_purchase"  # the customer bought between the two runs

    history = api_client.get("/api/customers/segment-transitions/", {"customer": people["B"].pk})
    assert [(t["run"], t["to_segment"]["key"]) for t in history.data["results"]] == [
        (second.pk, "potential_loyalist"),
        (first.pk, "new"),
    ]
    assert (
        api_client.get(
            "/api/customers/segment-transitions/",
            {"run": first.pk, "to_segment": _segment("new").pk},
        ).data["count"]
        == 2
    )
    assert api_client.get("/api/customers/segment-transitions/", {"run": "x"}).status_code == 400


def test_matrix_api_defaults_to_the_last_two_full_runs(api_client, moved):
    _people, first, second = moved
    data = api_client.get("/api/customers/segment-matrix/").data
    assert (data["from_run"]["id"], data["to_run"]["id"]) == (first.pk, second.pk)
    assert data["moved"] == 1
    columns = [segment["key"] for segment in data["segments"]]
    rows = {row["from_segment"]["key"]: dict(zip(columns, row["cells"])) for row in data["rows"]}
    assert rows["new"]["new"] == 1 and rows["new"]["potential_loyalist"] == 1
    assert rows["champions"]["champions"] == 1
    assert sum(row["total"] for row in data["rows"]) == Customer.objects.count()

    same = api_client.get(
        "/api/customers/segment-matrix/", {"from_run": first.pk, "to_run": first.pk}
    ).data
    assert same["moved"] == 0


def test_matrix_api_needs_two_runs(api_client, scored):
    assert api_client.get("/api/customers/segment-matrix/").status_code == 400


def test_matrix_page_shows_the_moves_with_heat(supervisor_client, moved):
    _people, first, second = moved
    html = supervisor_client.get("/customers/segments/matrix/", **EN).content.decode()
    assert "1 customer changed segment." in html
    header = re.search(r"<thead>.*?</thead>", html, re.S).group(0)
    columns = re.findall(r'<th class="col" data-key="([^"]+)"', header)
    row = re.search(r'<tr data-from="new">.*?</tr>', html, re.S).group(0)
    cells = re.findall(
        r'<td class="num heat[^"]*" style="background-color: rgba\(31, 111, 235, ([\d.]+)\)"[^>]*>(\d+)</td>',
        row,
    )
    by_column = dict(zip(columns, cells, strict=True))
    assert by_column["new"] == ("0.50", "1")
    assert by_column["potential_loyalist"] == ("0.50", "1")
    assert by_column["champions"] == ("0.00", "0")
    assert f'<option value="{first.pk}" selected>' in html
    assert f'<option value="{second.pk}" selected>' in html

    picked = supervisor_client.get(
        f"/customers/segments/matrix/?from_run={first.pk}&to_run={first.pk}", **EN
    ).content.decode()
    assert "0 customers changed segment." in picked


def test_matrix_page_with_one_run_says_so(supervisor_client, scored):
    html = supervisor_client.get("/customers/segments/matrix/", **EN).content.decode()
    assert "Two full segmentation runs are needed" in html


# -- runs ----------------------------------------------------------------------------------------


def test_runs_api_lists_and_starts_a_manual_run(api_client, scored):
    _people, first = scored
    listing = api_client.get("/api/customers/segmentation-runs/").data
    assert [run["id"] for run in listing["results"]] == [first.pk]
    assert listing["results"][0]["full"] is True

    response = api_client.post("/api/customers/segmentation-runs/")
    assert response.status_code == 202
    run = SegmentationRun.objects.get(pk=response.data["run"]["id"])
    assert run.cause == "manual" and run.finished_at is not None
    assert run.segment_counts[str(_segment("new").pk)] == 2
    assert SegmentTransition.objects.filter(run=run).count() == 0  # nothing changed


# -- access --------------------------------------------------------------------------------------

PAGES = [
    ("get", "/customers/segments/"),
    ("get", "/customers/segments/new/"),
    ("get", "/customers/segments/matrix/"),
    ("post", "/customers/segments/preview/"),
    ("post", "/customers/segments/resegment/"),
    ("get", "/customers/segments/{segment}/"),
    ("post", "/customers/segments/{segment}/"),
    ("get", "/customers/{customer}/rfm/"),
]
ENDPOINTS = [
    ("get", "/api/customers/segments/"),
    ("post", "/api/customers/segments/"),
    ("get", "/api/customers/segments/{segment}/"),
    ("patch", "/api/customers/segments/{segment}/"),
    ("post", "/api/customers/segments/preview/"),
    ("get", "/api/customers/segments/{segment}/members/"),
    ("get", "/api/customers/{customer}/rfm/"),
    ("get", "/api/customers/segment-transitions/"),
    ("get", "/api/customers/segment-matrix/"),
    ("get", "/api/customers/segmentation-runs/"),
    ("post", "/api/customers/segmentation-runs/"),
]


def _fill(path: str, people) -> str:
    return path.format(segment=_segment("new").pk, customer=people["B"].pk)


@pytest.mark.parametrize(("method", "path"), PAGES + ENDPOINTS)
def test_agents_get_403_everywhere(agent_client, scored, method, path):
    people, _run = scored
    runs = SegmentationRun.objects.count()
    response = getattr(agent_client, method)(_fill(path, people))
    assert response.status_code == 403
    assert SegmentationRun.objects.count() == runs


@pytest.mark.parametrize(("method", "path"), PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(client, scored, method, path):
    people, _run = scored
    response = getattr(client, method)(_fill(path, people))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_anonymous_api_callers_are_refused(scored, method, path):
    from rest_framework.test import APIClient

    people, _run = scored
    response = getattr(APIClient(), method)(_fill(path, people))
    assert response.status_code in (401, 403)
