"""Campaign results: funnel, rates, repurchase lift against the holdout with its 95% CI, the
snapshot, the pages and the API — every number checked against a hand computation."""

from __future__ import annotations

import io
import math
import statistics
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import time_machine

from campaigns.models import CampaignResultSnapshot, CampaignState
from campaigns.results import campaign_results, campaign_results_refresh
from config.charts import Bar, Series, bar_chart, format_percent, line_chart
from config.exports import table_response, xlsx_bytes
from customers.models import Purchase
from outreach.models import CampaignMember, ContactAttempt, Disposition
from tests.factories import CampaignFactory, CustomerFactory

# These tests read English labels; the product's default language is Japanese.
pytestmark = pytest.mark.usefixtures("english_site")


# --- shared building blocks: charts and exports ---------------------------------------------------


def test_bar_chart_escapes_labels_and_marks_each_bar():
    svg = bar_chart(
        title="Funnel <b>", bars=[Bar("Members", 100), Bar("Reached <x>", 42, key="reached")]
    )
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "<title" in svg and "Funnel &lt;b&gt;" in svg
    assert "Reached &lt;x&gt;" in svg and "<x>" not in svg
    assert 'data-key="reached"' in svg and 'data-value="42"' in svg


def test_line_chart_draws_every_series_with_a_legend_and_a_zero_rule():
    svg = line_chart(
        title="Repurchase",
        chart_id="trend",
        series=[
            Series("Treatment", [(date(2026, 1, 1), 0.0), (date(2026, 1, 5), 0.3)], key="t"),
            Series("Lift", [(date(2026, 1, 1), -0.02), (date(2026, 1, 5), 0.1)], key="lift"),
        ],
        y_format=format_percent,
    )
    assert 'id="trend-t"' in svg and 'id="trend-lift"' in svg
    assert svg.count('class="legend-item"') == 2
    assert 'class="zero"' in svg  # the range crosses zero
    assert "30%" in svg


def test_xlsx_export_neutralises_formula_like_text_but_keeps_numbers():
    data = xlsx_bytes(["name", "amount"], [["=cmd|' /C calc'!A0", -5], ["\tx", "@SUM(A1)"]])
    rows = [
        [c.value for c in r] for r in openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows()
    ]
    assert rows == [["name", "amount"], ["'=cmd|' /C calc'!A0", -5], ["'\tx", "'@SUM(A1)"]]


def test_table_response_streams_csv_and_builds_xlsx():
    csv_response = table_response(filename="results 1", header=["a"], rows=[["+1+2"]])
    assert csv_response["Content-Disposition"] == 'attachment; filename="results-1.csv"'
    assert b"".join(csv_response.streaming_content) == "\ufeffa\r\n'+1+2\r\n".encode()
    xlsx_response = table_response(filename="r", header=["a"], rows=[["-x"]], fmt="xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(xlsx_response.content))
    assert workbook.active["A2"].value == "'-x"


# --- hand-built campaign ---------------------------------------------------------------------------
#
# Launched 2026-03-01 09:00 JST, read 40 days later with a 30-day window.
# Treatment 100 (members 0..99), holdout 20 (100..119), 5 excluded at launch (no group).
#   attempted: 0..59 (two counted calls each, day 0 and day 1) → 60, 120 attempts
#   reached:   0..39 on the second call (100 s for 0..19, 200 s for 20..39) → 40, AHT 150 s
#   converted: 0..9 on day 1 → 10 (member 10 converted on day 35: outside the window)
#   outside the window or not counting: member 60 called on day 31, member 61 a non-counting log
#   recent pace: 14 calls to member 60 in the last 7 days → 2 a day; 40 members still waiting
#   bought in window: treatment 0..19 (day 2) and 60..69 (day 5) → 30 of 100, 1,000 yen each,
#                     members 0..4 a second 500 yen on day 3; member 70 bought only outside it
#                     holdout 100..101 on day 5 and 102..103 on day 10 → 4 of 20, 1,000 yen each
# So: p_treatment 0.30, p_holdout 0.20, lift 0.10; contacted (reached) 20 of 40 = 0.50.


TOKYO = ZoneInfo("Asia/Tokyo")
LAUNCH = datetime(2026, 3, 1, 9, 0, tzinfo=TOKYO)
NOW = LAUNCH + timedelta(days=40)
Z = 1.959963984540054


def wilson(x: int, n: int) -> tuple[float, float]:
    """Wilson score interval, written out here independently of campaigns.stats."""
    p = x / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return centre - half, centre + half


def newcombe(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float]:
    p1, p2 = x1 / n1, x2 / n2
    (l1, u1), (l2, u2) = wilson(x1, n1), wilson(x2, n2)
    d = p1 - p2
    return d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)


def at(day: float, hours: float = 1) -> datetime:
    return LAUNCH + timedelta(days=day, hours=hours)


def build_campaign(*, treatment: int, holdout: int, excluded: int = 0, **fields):
    campaign = CampaignFactory(
        state=CampaignState.RUNNING,
        launched_at=LAUNCH,
        name=fields.pop("name", "Results"),
        **fields,
    )
    customers = [CustomerFactory() for _ in range(treatment + holdout + excluded)]
    groups = ["treatment"] * treatment + ["holdout"] * holdout + [""] * excluded
    members = CampaignMember.objects.bulk_create(
        CampaignMember(
            campaign=campaign,
            customer=customer,
            group=group,
            status={"treatment": "queued", "holdout": "held_out", "": "excluded"}[group],
            due_at=LAUNCH,
        )
        for customer, group in zip(customers, groups, strict=True)
    )
    return campaign, members


def attempt(campaign, member, when, code="no_answer", *, seconds=0, counts=True, reached=None):
    disposition = Disposition.objects.get(code=code)
    ContactAttempt.objects.create(
        idempotency_key=f"{member.pk}-{when.isoformat()}-{code}",
        member=member,
        campaign=campaign,
        customer_id=member.customer_id,
        channel="call",
        disposition=disposition,
        attempted_at=when,
        duration_seconds=seconds,
        reached=disposition.reached if reached is None else reached,
        success=disposition.success,
        counts_as_attempt=counts,
    )


def buy(member, when, amount=1000):
    Purchase.objects.create(
        customer_id=member.customer_id,
        line_key=f"{member.pk}-{when.isoformat()}",
        purchased_at=when,
        amount=Decimal(amount),
    )


@pytest.fixture
def known_campaign(db):
    campaign, members = build_campaign(
        treatment=100, holdout=20, excluded=5, cost_per_call=Decimal("50")
    )
    treatment, holdout, excluded = members[:100], members[100:120], members[120:]
    for index, member in enumerate(treatment[:60]):
        attempt(campaign, member, at(0))
        if index < 40:
            attempt(campaign, member, at(1), "success", seconds=100 if index < 20 else 200)
        else:
            attempt(campaign, member, at(1))
    attempt(campaign, treatment[60], at(31))
    attempt(campaign, treatment[61], at(3), counts=False, reached=False)
    for hours in range(14):  # the recent pace: 14 counted calls within the last 7 days
        attempt(campaign, treatment[60], NOW - timedelta(hours=6 + 11 * hours))
    CampaignMember.objects.filter(pk__in=[m.pk for m in treatment[:10]]).update(
        status="done", close_reason="converted", converted_at=at(1, 2)
    )
    CampaignMember.objects.filter(pk=treatment[10].pk).update(
        status="done", close_reason="converted", converted_at=at(35)
    )
    CampaignMember.objects.filter(pk__in=[m.pk for m in treatment[11:60]]).update(status="done")
    for member in treatment[:20]:
        buy(member, at(2, 2))
    for member in treatment[:5]:
        buy(member, at(3), 500)
    for member in treatment[60:70]:
        buy(member, at(5))
    buy(treatment[70], LAUNCH - timedelta(days=1))
    buy(treatment[70], at(31))
    for member in holdout[:2]:
        buy(member, at(5))
    for member in holdout[2:4]:
        buy(member, at(10))
    buy(excluded[0], at(4))  # not in the experiment: counts nowhere
    return campaign


def results_now(campaign, window_days=30):
    with time_machine.travel(NOW, tick=False):
        campaign_results_refresh(campaign=campaign, window_days=window_days)
        return campaign_results(campaign=campaign, window_days=window_days)


def test_funnel_rates_and_handle_time_match_the_hand_count(known_campaign):
    r = results_now(known_campaign)
    assert (r.treatment, r.holdout, r.attempted, r.reached, r.converted) == (100, 20, 60, 40, 10)
    assert r.attempts == 120
    assert r.contact_rate == pytest.approx(40 / 60)
    assert r.conversion_rate_reached == pytest.approx(0.25)
    assert r.conversion_rate_treatment == pytest.approx(0.10)
    assert r.attempts_per_member == pytest.approx(2.0)
    assert r.list_penetration == pytest.approx(0.60)
    assert r.average_handle_seconds == pytest.approx(150.0)


def test_exhaustion_forecast_divides_waiting_members_by_the_recent_daily_pace(known_campaign):
    r = results_now(known_campaign)
    assert r.waiting == 40  # members 60..99 still queued
    assert r.daily_attempt_rate == pytest.approx(2.0)
    assert r.exhaustion_days == 20
    assert r.exhaustion_date == NOW.date() + timedelta(days=20)


def test_repurchase_per_group_and_the_itt_lift_with_newcombe_interval(known_campaign):
    r = results_now(known_campaign)
    contacted, treatment, holdout = (r.groups[k] for k in ("contacted", "treatment", "holdout"))
    assert (contacted.members, contacted.buyers) == (40, 20)
    assert (treatment.members, treatment.buyers) == (100, 30)
    assert (holdout.members, holdout.buyers) == (20, 4)
    assert contacted.repurchase_rate == pytest.approx(0.50)
    assert treatment.repurchase_rate == pytest.approx(0.30)
    assert holdout.repurchase_rate == pytest.approx(0.20)
    assert contacted.revenue_per_member == pytest.approx(22_500 / 40)
    assert treatment.revenue_per_member == pytest.approx(32_500 / 100)
    assert holdout.revenue_per_member == pytest.approx(4_000 / 20)

    low, high = newcombe(30, 100, 4, 20)
    assert r.lift.estimate == pytest.approx(0.10)
    assert (r.lift.lower, r.lift.upper) == (pytest.approx(low), pytest.approx(high))
    # Same numbers from a published calculator, to four places.
    assert (round(r.lift.lower, 4), round(r.lift.upper, 4)) == (-0.1307, 0.2531)
    assert r.lift_verdict == ("+10.0 points (95% CI -13.1 to +25.3): not distinguishable from zero")
    assert r.incremental_purchasers == pytest.approx(10.0)


def test_revenue_lift_uses_welch_standard_error(known_campaign):
    r = results_now(known_campaign)
    treatment = [1500] * 5 + [1000] * 25 + [0] * 70
    holdout = [1000] * 4 + [0] * 16
    se = math.sqrt(
        statistics.variance(treatment) / len(treatment)
        + statistics.variance(holdout) / len(holdout)
    )
    assert r.revenue_lift.estimate == pytest.approx(125.0)
    assert r.revenue_lift.lower == pytest.approx(125.0 - Z * se)
    assert r.revenue_lift.upper == pytest.approx(125.0 + Z * se)
    assert r.incremental_revenue == pytest.approx(12_500.0)


def test_cost_per_incremental_purchase_prices_counted_window_calls(known_campaign):
    r = results_now(known_campaign)
    assert r.contact_cost == Decimal("6000.00")  # 120 calls × 50 yen
    assert r.cost_per_incremental_purchase == pytest.approx(600.0)  # 6,000 ÷ (0.10 × 100)


def test_cost_is_unknown_when_no_contact_cost_is_set(known_campaign):
    known_campaign.cost_per_call = None
    known_campaign.save()
    r = results_now(known_campaign)
    assert r.contact_cost is None and r.cost_per_incremental_purchase is None


def test_daily_series_counts_by_day_since_launch_and_cumulates_repurchase(known_campaign):
    r = results_now(known_campaign)
    assert len(r.series) == 30
    by_day = {p.day: p for p in r.series}
    assert (by_day[0].attempts, by_day[0].reached) == (60, 0)
    assert (by_day[1].attempts, by_day[1].reached, by_day[1].converted) == (60, 40, 10)
    assert by_day[1].treatment_rate == 0 and by_day[2].treatment_rate == pytest.approx(0.20)
    assert by_day[5].treatment_rate == pytest.approx(0.30)
    assert by_day[5].holdout_rate == pytest.approx(0.10)
    assert by_day[10].holdout_rate == pytest.approx(0.20)
    assert by_day[29].lift == pytest.approx(0.10)
    assert by_day[0].date == LAUNCH.date()


def test_a_shorter_window_leaves_out_later_purchases(known_campaign):
    r = results_now(known_campaign, window_days=3)
    # Days 0-2: treatment buyers 0..19 only; holdout bought on days 5 and 10.
    assert (r.groups["treatment"].buyers, r.groups["holdout"].buyers) == (20, 0)
    low, high = newcombe(20, 100, 0, 20)
    assert r.lift.estimate == pytest.approx(0.20)
    assert (r.lift.lower, r.lift.upper) == (pytest.approx(low), pytest.approx(high))
    assert r.lift.lower > 0
    assert r.lift_verdict.endswith("calling made them buy")


def test_window_is_cut_at_now_while_the_campaign_runs(known_campaign):
    with time_machine.travel(LAUNCH + timedelta(days=4, hours=12), tick=False):
        campaign_results_refresh(campaign=known_campaign, window_days=30)
        r = campaign_results(campaign=known_campaign, window_days=30)
    assert len(r.series) == 5  # days 0..4 so far
    assert r.groups["treatment"].buyers == 20


# --- edge cases ------------------------------------------------------------------------------------


def test_zero_members(db):
    campaign, _ = build_campaign(treatment=0, holdout=0)
    r = results_now(campaign)
    assert not r.has_members
    assert (r.treatment, r.attempted, r.reached, r.converted) == (0, 0, 0, 0)
    assert r.contact_rate is None and r.conversion_rate_treatment is None
    assert r.list_penetration is None and r.average_handle_seconds is None
    assert r.groups["treatment"].repurchase_rate is None
    assert r.lift is None and r.revenue_lift is None and r.incremental_purchasers is None
    assert r.exhaustion_days == 0
    assert "not measurable" in r.lift_verdict


def test_all_holdout(db):
    campaign, members = build_campaign(treatment=0, holdout=10)
    for member in members[:2]:
        buy(member, at(1))
    r = results_now(campaign)
    assert r.groups["holdout"].repurchase_rate == pytest.approx(0.2)
    assert r.groups["treatment"].repurchase_rate is None
    assert r.lift is None
    assert r.lift_verdict == "Lift not measurable: the campaign has no treatment group."


def test_no_holdout(db):
    campaign, members = build_campaign(treatment=10, holdout=0, cost_per_call=Decimal(10))
    buy(members[0], at(1))
    r = results_now(campaign)
    assert r.groups["treatment"].repurchase_rate == pytest.approx(0.1)
    assert r.lift is None and r.revenue_lift is None
    assert r.cost_per_incremental_purchase is None
    assert r.lift_verdict == "Lift not measurable: the campaign has no holdout group."


def test_no_conversions_gives_a_zero_lift_with_a_finite_interval(db):
    campaign, members = build_campaign(treatment=50, holdout=10, cost_per_call=Decimal(10))
    for member in members[:50]:
        attempt(campaign, member, at(0))
    r = results_now(campaign)
    assert r.converted == 0 and r.conversion_rate_treatment == 0
    assert r.conversion_rate_reached is None  # nobody reached
    assert r.lift.estimate == 0
    # Newcombe with 0/50 and 0/10: lower = −u(0/10), upper = u(0/50).
    assert r.lift.lower == pytest.approx(-wilson(0, 10)[1])
    assert r.lift.upper == pytest.approx(wilson(0, 50)[1])
    assert r.revenue_lift.estimate == 0 and r.revenue_lift.lower == 0
    assert r.cost_per_incremental_purchase is None  # no increment to pay for
    assert r.lift_verdict.endswith("not distinguishable from zero")


def test_a_campaign_never_launched_has_no_window(db):
    campaign = CampaignFactory()
    r = results_now(campaign)
    assert r.window_start is None and r.series == [] and r.treatment == 0


# --- snapshot --------------------------------------------------------------------------------------


def test_refresh_replaces_the_snapshot_of_a_window(known_campaign):
    with time_machine.travel(NOW, tick=False):
        first = campaign_results_refresh(campaign=known_campaign, window_days=30)
    buy(CampaignMember.objects.filter(campaign=known_campaign, group="holdout")[10], at(6))
    with time_machine.travel(NOW + timedelta(minutes=15), tick=False):
        second = campaign_results_refresh(campaign=known_campaign, window_days=30)
        stale_free = campaign_results(campaign=known_campaign, window_days=30)
    assert first.pk == second.pk
    assert CampaignResultSnapshot.objects.filter(campaign=known_campaign).count() == 1
    assert second.computed_at == NOW + timedelta(minutes=15)
    assert stale_free.groups["holdout"].buyers == 5


def test_reading_uses_the_snapshot_until_refreshed(known_campaign, django_assert_max_num_queries):
    with time_machine.travel(NOW, tick=False):
        campaign_results_refresh(campaign=known_campaign, window_days=30)
    buy(CampaignMember.objects.filter(campaign=known_campaign, group="holdout")[10], at(6))
    with django_assert_max_num_queries(1):
        r = campaign_results(campaign=known_campaign, window_days=30)
    assert r.groups["holdout"].buyers == 4  # as of the snapshot


def test_beat_refreshes_every_window_of_running_campaigns(known_campaign):
    from campaigns.tasks import campaign_results_refresh_active_task

    paused_elsewhere = CampaignFactory(state=CampaignState.COMPLETED, launched_at=LAUNCH)
    with time_machine.travel(NOW, tick=False):
        campaign_results_refresh(campaign=known_campaign, window_days=7)
        refreshed = campaign_results_refresh_active_task()
    assert sorted(refreshed) == [[known_campaign.pk, 7], [known_campaign.pk, 30]]
    assert not CampaignResultSnapshot.objects.filter(campaign=paused_elsewhere).exists()
    assert CampaignResultSnapshot.objects.filter(campaign=known_campaign).count() == 2


# --- pages -----------------------------------------------------------------------------------------


def english(client):
    client.cookies["django_language"] = "en"
    return client


def test_results_page_shows_funnel_lift_and_charts(supervisor_client, known_campaign):
    with time_machine.travel(NOW, tick=False):
        response = english(supervisor_client).get(
            f"/campaigns/{known_campaign.pk}/results/?window=3"
        )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="funnel-chart"' in html and 'id="repurchase-chart-lift"' in html
    assert "calling made them buy" in html
    assert 'data-lift="0.2000"' in html
    assert "As of" in html
    assert CampaignResultSnapshot.objects.filter(campaign=known_campaign, window_days=3).exists()


def test_results_page_renders_for_a_campaign_without_members(supervisor_client, db):
    campaign, _ = build_campaign(treatment=0, holdout=0)
    response = english(supervisor_client).get(f"/campaigns/{campaign.pk}/results/")
    assert response.status_code == 200
    assert "not measurable" in response.content.decode()


def test_agents_get_403_on_results_pages_and_refresh(agent_client, known_campaign):
    assert agent_client.get(f"/campaigns/{known_campaign.pk}/results/").status_code == 403
    assert agent_client.post(f"/campaigns/{known_campaign.pk}/results/refresh/").status_code == 403


def test_refresh_now_recomputes_the_snapshot(supervisor_client, known_campaign):
    with time_machine.travel(NOW, tick=False):
        campaign_results_refresh(campaign=known_campaign, window_days=30)
    with time_machine.travel(NOW + timedelta(hours=1), tick=False):
        response = supervisor_client.post(
            f"/campaigns/{known_campaign.pk}/results/refresh/", {"window": "30"}
        )
    assert response.status_code == 302
    assert response["Location"].endswith(f"/campaigns/{known_campaign.pk}/results/?window=30")
    snapshot = CampaignResultSnapshot.objects.get(campaign=known_campaign, window_days=30)
    assert snapshot.computed_at == NOW + timedelta(hours=1)


@pytest.mark.parametrize("table", ["funnel", "rates", "outcome", "daily"])
def test_every_results_table_exports_as_csv_and_xlsx(supervisor_client, known_campaign, table):
    url = f"/campaigns/{known_campaign.pk}/results/?table={table}"
    csv_response = supervisor_client.get(url + "&export=csv")
    assert csv_response.status_code == 200
    assert csv_response["Content-Type"].startswith("text/csv")
    assert len(b"".join(csv_response.streaming_content).splitlines()) > 1
    xlsx_response = supervisor_client.get(url + "&export=xlsx")
    assert xlsx_response.status_code == 200
    assert openpyxl.load_workbook(io.BytesIO(xlsx_response.content)).active.max_row > 1


def test_exports_neutralise_formula_cells(supervisor_client, known_campaign, monkeypatch):
    # The results tables hold computed text only; the export path must neutralise whatever a
    # table holds all the same, so hand it a formula.
    from campaigns import views
    from campaigns.results_pages import Table

    formula = "=cmd|' /C calc'!A0"
    monkeypatch.setattr(
        views,
        "results_tables",
        lambda results: {"outcome": Table("outcome", "Outcome", ["Group"], [[formula], ["-1+2"]])},
    )
    url = f"/campaigns/{known_campaign.pk}/results/?table=outcome"
    csv_body = b"".join(supervisor_client.get(url + "&export=csv").streaming_content).decode()
    workbook = openpyxl.load_workbook(
        io.BytesIO(supervisor_client.get(url + "&export=xlsx").content)
    )
    assert csv_body.splitlines()[1:] == ["'=cmd|' /C calc'!A0", "'-1+2"]
    cells = [c.value for row in workbook.active.iter_rows() for c in row]
    assert cells == ["Group", "'" + formula, "'-1+2"]


def test_unknown_export_table_is_404(supervisor_client, known_campaign):
    url = f"/campaigns/{known_campaign.pk}/results/?table=nope&export=csv"
    assert supervisor_client.get(url).status_code == 404


def test_campaign_list_filters_by_kind_and_channel_and_links_results(supervisor_client, db):
    CampaignFactory(name="Calls VIP", kind="vip_offer", channel="call", launched_at=LAUNCH)
    CampaignFactory(name="Mail VIP", kind="vip_offer", channel="email")
    CampaignFactory(name="Calls dormant", kind="dormant_reactivation", channel="call")
    html = supervisor_client.get("/campaigns/?kind=vip_offer&channel=call").content.decode()
    assert "Calls VIP" in html and "Mail VIP" not in html and "Calls dormant" not in html
    assert 'class="results-link"' in html
    html = supervisor_client.get("/campaigns/?starts_after=2030-01-01").content.decode()
    assert "Calls VIP" not in html


def test_campaign_detail_links_to_results_once_launched(supervisor_client, known_campaign):
    html = supervisor_client.get(f"/campaigns/{known_campaign.pk}/").content.decode()
    assert f'href="/campaigns/{known_campaign.pk}/results/"' in html


# --- API -------------------------------------------------------------------------------------------


def test_api_lists_and_filters_campaigns(api_client, db):
    CampaignFactory(name="A", state=CampaignState.RUNNING, channel="call")
    CampaignFactory(name="B", state=CampaignState.DRAFT, channel="email")
    response = api_client.get("/api/campaigns/", {"state": "running"})
    assert response.status_code == 200
    assert [c["name"] for c in response.json()["results"]] == ["A"]
    assert api_client.get("/api/campaigns/", {"channel": "email"}).json()["count"] == 1
    assert api_client.get("/api/campaigns/", {"state": "bogus"}).status_code == 400


def test_api_detail_and_results(api_client, known_campaign):
    assert api_client.get(f"/api/campaigns/{known_campaign.pk}/").json()["name"] == "Results"
    with time_machine.travel(NOW, tick=False):
        body = api_client.get(
            f"/api/campaigns/{known_campaign.pk}/results/", {"window_days": 30}
        ).json()
    assert (body["treatment"], body["holdout"], body["attempted"], body["reached"]) == (
        100,
        20,
        60,
        40,
    )
    assert body["lift"]["estimate"] == pytest.approx(0.10)
    low, high = newcombe(30, 100, 4, 20)
    assert body["lift"]["lower"] == pytest.approx(low)
    assert body["lift"]["upper"] == pytest.approx(high)
    assert [g["key"] for g in body["groups"]] == ["contacted", "treatment", "holdout"]
    assert body["cost_per_incremental_purchase"] == pytest.approx(600.0)
    assert len(body["series"]) == 30


def test_api_results_rejects_a_bad_window(api_client, known_campaign):
    url = f"/api/campaigns/{known_campaign.pk}/results/"
    assert api_client.get(url, {"window_days": 0}).status_code == 400
    assert api_client.get(url, {"window_days": "x"}).status_code == 400


def test_api_refresh(api_client, known_campaign):
    with time_machine.travel(NOW, tick=False):
        response = api_client.post(
            f"/api/campaigns/{known_campaign.pk}/results/refresh/", {"window_days": 14}
        )
    assert response.status_code == 201
    assert response.json()["window_days"] == 14
    assert CampaignResultSnapshot.objects.filter(campaign=known_campaign, window_days=14).exists()


def test_api_is_supervisor_only(agent, known_campaign):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(agent)
    for url in (
        "/api/campaigns/",
        f"/api/campaigns/{known_campaign.pk}/",
        f"/api/campaigns/{known_campaign.pk}/results/",
    ):
        assert client.get(url).status_code == 403
    assert client.post(f"/api/campaigns/{known_campaign.pk}/results/refresh/").status_code == 403
