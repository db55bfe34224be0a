"""Handing members to agents: claim the next one, release it, expire abandoned claims.

A claim is one statement that locks the best waiting member with ``SELECT … FOR UPDATE SKIP
LOCKED`` (so concurrent agents never wait on, nor get, the same row), marks it claimed and reads
every compliance fact about its customer (``compliance.facts_sql``) once the row is locked. The
rules are checked on those facts; a member that fails one is dealt with on the spot (excluded
for good, or put back until the rule clears, only while the claim is still the agent's) and the
next one is claimed.

Two ways, one order. For one campaign on PostgreSQL (the agent names it, or works on one) the
whole claim is that one statement (``_claim_in_one``): campaign checked, the claim the agent
already holds or the next member, facts — one round trip. For an agent on several campaigns
(lanes are served across campaigns) and on SQLite, a survey of the agent's campaigns comes
first and a locking statement per lane follows, in a transaction (``_claim_from``).

The hot statements are written by hand, once per kind, and prepared on PostgreSQL: at hundreds
of claims a second, building them with the ORM (Python) and planning them (PostgreSQL) cost more
than running them (``bench/claims.py``). The member is built from the locked row (no second read).

Order: the claim the agent holds, then due callbacks (personal ones only to their agent), then
due retries, then first contacts; campaigns by priority; inside a lane by due time, then launch
order.
"""

from __future__ import annotations

import copy
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import AssignmentMode, Campaign, CampaignState
from customers.models import Customer
from outreach import compliance
from outreach.models import AgentProfile, CampaignMember, CloseReason, Lane, MemberStatus, Team

# How many unsuitable members one claim may skip (and deal with) before giving up for now.
MAX_SKIPS = 25
# A temporary block with no end of its own (e.g. a campaign paused) is looked at again after this.
RECHECK_AFTER = timedelta(hours=1)


@dataclass
class ClaimResult:
    member: CampaignMember | None
    verdict: compliance.Verdict | None = None
    resumed: bool = False  # the agent already held this claim
    skipped: Counter = field(default_factory=Counter)
    message: str = ""


def _campaigns_to_work(
    agent: AbstractBaseUser, campaign: Campaign | None, now: datetime
) -> list[Campaign]:
    """Running campaigns ``agent`` works on (through a team; only ``campaign`` if given),
    highest priority first, each with what waits there for ``agent`` now, in one query: the
    claim they hold (``held_member_id``) and whether a callback or a retry may be due
    (``due_callback``, ``due_retry_*``; never false when one is, so an empty lane is not
    searched).

    Hand-written: it runs on every claim, and the ORM spent longer building it than
    PostgreSQL spent running it. The retry probes are two (owner IS NULL, owner = agent) so
    each is one range of member_claim_idx.
    """
    at = connection.ops.adapt_datetimefield_value(now)
    params = [
        agent.pk,  # held
        *(at, agent.pk, agent.pk),  # due callback
        at,  # due retry, nobody's
        *(at, agent.pk),  # due retry, the agent's
        *([campaign.pk] if campaign is not None else []),
        agent.pk,
    ]
    rows = _fetch(_survey_sql(connection.vendor, campaign is not None), params)
    width = len(_layout(Campaign, connection.vendor)[0])
    campaigns = []
    for row in rows:
        current = _instance(Campaign, row)
        for name, value in zip(_SURVEY_EXTRA, row[width:], strict=True):
            setattr(current, name, value)
        campaigns.append(current)
    return campaigns


_SURVEY_EXTRA = ("held_member_id", "due_callback", "due_retry_free", "due_retry_owned")


@lru_cache(maxsize=8)
def _survey_sql(vendor: str, one_campaign: bool) -> str:
    member = CampaignMember._meta.db_table
    # Statuses and lanes are written into the text, not passed: a prepared statement's generic
    # plan may use the partial indexes (WHERE status = …) only for a status it can see.
    queued, claimed = MemberStatus.QUEUED.value, MemberStatus.CLAIMED.value

    def due(lane: int, who: str) -> str:
        return f"""EXISTS (SELECT 1 FROM {member} m
                WHERE m.campaign_id = c.id AND m.status = '{queued}' AND m.lane = {lane}
                      AND m.due_at <= %s AND {who})"""

    team_campaigns = Team.campaigns.through._meta.db_table
    only = "AND c.id = %s" if one_campaign else ""
    callback = (
        "(m.callback_agent_id = %s OR (m.callback_agent_id IS NULL AND "
        "(m.owner_id IS NULL OR m.owner_id = %s)))"
    )
    return f"""
        SELECT {_columns(Campaign, "c")},
               (SELECT m.id FROM {member} m
                WHERE m.campaign_id = c.id AND m.claimed_by_id = %s AND m.status = '{claimed}'
                ORDER BY m.claimed_at LIMIT 1) AS held_member_id,
               {due(Lane.CALLBACK.value, callback)} AS due_callback,
               {due(Lane.RETRY.value, "m.owner_id IS NULL")} AS due_retry_free,
               {due(Lane.RETRY.value, "m.owner_id = %s")} AS due_retry_owned
        FROM {Campaign._meta.db_table} c
        WHERE c.state = '{CampaignState.RUNNING.value}' {only}
          AND c.id IN (SELECT tc.campaign_id FROM {team_campaigns} tc
                       JOIN {Team._meta.db_table} t ON t.id = tc.team_id
                       JOIN {AgentProfile._meta.db_table} a ON a.team_id = t.id
                       WHERE t.is_active AND a.user_id = %s)
        ORDER BY c.priority DESC, c.starts_on, c.id
    """


def _may_be_due(campaign: Campaign, lane: int) -> bool:
    if lane == Lane.CALLBACK:
        return campaign.due_callback
    if lane == Lane.RETRY:
        return campaign.due_retry_free or campaign.due_retry_owned
    return True  # first contacts: nearly always some; the claim query itself is the probe


def claim_next(
    *,
    agent: AbstractBaseUser,
    campaign: Campaign | None = None,
    now: datetime | None = None,
) -> ClaimResult:
    """Claim the best member ``agent`` may contact now (or return the one they already hold)."""
    now = now or timezone.now()
    try:
        return _claim_next(agent, campaign, now)
    except IntegrityError as error:
        # The same agent claiming twice at once (a double click, two tabs): the other claim
        # committed first and this one broke the one-claim rule. Once more hands back that
        # claim as held — unless inside a transaction, which the error has broken.
        if connection.in_atomic_block or not _one_claim_rule(error):
            raise
        return _claim_next(agent, campaign, now)


def _claim_next(agent: AbstractBaseUser, campaign: Campaign | None, now: datetime) -> ClaimResult:
    if campaign is not None and _claims_in_one_statement():
        result = _claim_in_one(campaign, agent, now)
        if result is not None:
            return result
        # Not running, not the agent's, or changed since ``campaign`` was read: the survey
        # below reads it afresh and says which.
    campaigns = _campaigns_to_work(agent, campaign, now)
    if not campaigns:
        return ClaimResult(None, message=_("You are not on any running campaign."))
    if len(campaigns) == 1 and _claims_in_one_statement():
        result = _claim_in_one(campaigns[0], agent, now)
        if result is not None:
            return result
    skipped: Counter = Counter()
    at = connection.ops.adapt_datetimefield_value(now)
    with transaction.atomic():
        held = _held_claim(agent, campaigns, now, skipped)
        if held is not None:
            return held
        for lane in (Lane.CALLBACK, Lane.RETRY, Lane.FRESH):
            for current in campaigns:
                if not _may_be_due(current, lane):
                    continue
                for kind, params in _candidates(current, lane, agent, at):
                    result = _claim_from(current, kind, params, agent, now, skipped)
                    if result is not None:
                        result.skipped = skipped
                        return result
                    if sum(skipped.values()) >= MAX_SKIPS:
                        return _nothing(skipped)
    return _nothing(skipped)


def _nothing(skipped: Counter) -> ClaimResult:
    if skipped:
        message = _("No member can be contacted right now (%(n)s set aside by the rules).") % {
            "n": sum(skipped.values())
        }
    else:
        message = _("No member is waiting right now.")
    return ClaimResult(None, skipped=skipped, message=message)


# --------------------------------------------------------------------------------------------
# One campaign on PostgreSQL: the whole claim in one statement
# --------------------------------------------------------------------------------------------

# What the statement is built from, besides the campaign's id: the lanes it searches
# (assignment mode) and the compliance facts it reads (``compliance.facts_sql``: refusal key,
# channel, frequency cap). The statement checks the row still holds these values, so a
# ``Campaign`` read before a supervisor changed one of them is never claimed with.
_SHAPE_FIELDS = (
    "assignment_mode",
    "product",
    "disclosure_product",
    "channel",
    "frequency_cap_contacts",
    "frequency_cap_days",
)


def _claims_in_one_statement() -> bool:
    return connection.vendor == "postgresql"


def _claim_in_one(
    campaign: Campaign,
    agent: AbstractBaseUser,
    now: datetime,
    *,
    refresh: bool = False,
    skipped: Counter | None = None,
) -> ClaimResult | None:
    """Claim from one campaign in one statement (PostgreSQL): the campaign read afresh and
    checked (running, worked by the agent's team), the claim the agent already holds there or
    else the best waiting member (callbacks, retries, first contacts; ``FOR UPDATE SKIP
    LOCKED``) marked claimed, and every compliance fact about its customer — one round trip,
    where the survey, BEGIN, the lock and COMMIT took four. The rules are then checked on those
    facts; a member that fails one is set aside (``set_aside``) and the next one claimed.

    Outside a transaction the statement commits on its own, so a member that fails a rule is
    claimed for the moment it takes to set it aside; nobody else can take it meanwhile, and a
    claim left behind by a crash is re-checked when the agent asks again (it is theirs) or
    expires. Returns None when the campaign cannot be worked from here (not running, not the
    agent's, or changed since ``campaign`` was read): the caller finds out which.

    The campaign's row is read in full once per version (``_CAMPAIGNS``); after that the
    statement only checks the version is still the one read, and reads the row again when not.
    """
    key = (connection.settings_dict["NAME"], campaign.pk)
    known = None if refresh else _CAMPAIGNS.get(key)
    base = known[1] if known else campaign
    skipped = Counter() if skipped is None else skipped
    sql, params, facts = one_statement(base, agent, now, version=known[0] if known else None)
    campaign_width = 1 if known else 1 + len(_layout(Campaign, "postgresql")[0])
    member_width = len(_layout(CampaignMember, "postgresql")[0])
    while True:
        rows = _fetch(sql, params)
        if not rows:
            if known:  # changed since it was read (or no longer the agent's): read it again
                _CAMPAIGNS.pop(key, None)
                fresh = Campaign.objects.filter(pk=campaign.pk).first()
                if fresh is None:
                    return None
                return _claim_in_one(fresh, agent, now, refresh=True, skipped=skipped)
            return None
        row = rows[0]
        if known:
            current = copy.copy(base)
        else:
            current = _instance(Campaign, row[1:campaign_width])
            _CAMPAIGNS[key] = (row[0], current)
            current = copy.copy(current)
        member_row = row[campaign_width : campaign_width + member_width]
        if member_row[0] is None:
            return _nothing(skipped)
        member = _instance(CampaignMember, member_row)
        member.campaign = current
        resumed = row[campaign_width + member_width]
        found = row[campaign_width + member_width + 1 :]
        verdict = member_verdict(
            current,
            member,
            now,
            compliance.facts_from_row(dict(zip(_fact_names(facts), found, strict=True))),
        )
        if verdict.allowed:
            return ClaimResult(member, verdict, resumed=resumed, skipped=skipped)
        _set_aside_claimed(member, agent, verdict, now, skipped)
        if sum(skipped.values()) >= MAX_SKIPS:
            return _nothing(skipped)


# (database, campaign id) -> (row version, the campaign as read at that version), for
# ``_claim_in_one``. The version is the row's xmin and ctid: any update gives the row a new ctid
# (a new tuple), in the same transaction too, and a later transaction a new xmin.
_CAMPAIGNS: dict[tuple[str, int], tuple[str, Campaign]] = {}
_ONE_CLAIM_RULE = "member_one_claim_per_agent_per_campaign"


def _one_claim_rule(error: IntegrityError) -> bool:
    cause = error.__cause__
    diag = getattr(cause, "diag", None)
    return getattr(diag, "constraint_name", None) == _ONE_CLAIM_RULE


def one_statement(
    campaign: Campaign, agent: AbstractBaseUser, now: datetime, *, version: str | None = None
) -> tuple[str, list, str]:
    """The claim statement of ``_claim_in_one`` for ``campaign`` (checked against its row at
    ``version`` when given, else against the values it was built from), its parameters, and
    the compliance facts it selects."""
    expires = now + timedelta(minutes=settings.OUTREACH_CLAIM_MINUTES)
    facts, facts_params = compliance.facts_sql(campaign, now=now, customer="c")
    sql = _one_sql(campaign.assignment_mode != AssignmentMode.PULL, facts, version is not None)
    params = [
        campaign.pk,
        *([version] if version else [getattr(campaign, name) for name in _SHAPE_FIELDS]),
        agent.pk,
        *(campaign.pk, agent.pk),  # held
        *(campaign.pk, now, agent.pk, agent.pk),  # callbacks
        *_lane_params(campaign, agent, now),
        *(agent.pk, now, now, expires),  # the claim
        *facts_params,
    ]
    return sql, params, facts


def _lane_params(campaign: Campaign, agent: AbstractBaseUser, at: Any) -> list:
    owned = campaign.assignment_mode != AssignmentMode.PULL
    params = []
    for lane in (Lane.RETRY, Lane.FRESH):
        if owned:
            params += [campaign.pk, lane, agent.pk, at]
        params += [campaign.pk, lane, at]
    return params


@lru_cache(maxsize=64)
def _one_sql(owned: bool, facts: str, known: bool) -> str:
    member = CampaignMember._meta.db_table
    team_campaigns = Team.campaigns.through._meta.db_table
    version = "k.xmin::text || k.ctid::text"
    if known:  # the campaign as read before, if still at that version (then running)
        campaign = f"{version} AS version FROM {Campaign._meta.db_table} k WHERE k.id = %s AND {version} = %s"
    else:
        shape = " ".join(f"AND k.{name} = %s" for name in _SHAPE_FIELDS)
        campaign = (
            f"{version} AS version, {_columns(Campaign)} FROM {Campaign._meta.db_table} k"
            f" WHERE k.id = %s AND k.state = '{CampaignState.RUNNING.value}' {shape}"
        )

    def arm(kind: str) -> str:
        where, order = _WHERE[kind]
        return f"SELECT id, false FROM (SELECT id FROM {member} WHERE {where} {order} FOR UPDATE SKIP LOCKED) AS {kind}"

    lanes = []
    for _lane in (Lane.RETRY, Lane.FRESH):
        if owned:
            lanes.append(arm("owned"))
        lanes.append(arm("free"))
    arms = "\n                UNION ALL ".join([arm("callback"), *lanes])
    claimed = MemberStatus.CLAIMED.value
    sql = f"""
        WITH k AS (
            SELECT {campaign}
              AND EXISTS (SELECT 1 FROM {team_campaigns} tc
                          JOIN {Team._meta.db_table} t ON t.id = tc.team_id
                          JOIN {AgentProfile._meta.db_table} a ON a.team_id = t.id
                          WHERE tc.campaign_id = k.id AND t.is_active AND a.user_id = %s)
        ),
        pick AS (
            SELECT * FROM (
                SELECT id, true AS resumed FROM (
                    SELECT id FROM {member}
                    WHERE campaign_id = %s AND claimed_by_id = %s AND status = '{claimed}'
                    FOR UPDATE
                ) AS held
                UNION ALL {arms}
            ) AS p (pid, resumed)
            WHERE EXISTS (SELECT 1 FROM k)
            LIMIT 1
        ),
        m AS (
            UPDATE {member} u SET status = '{claimed}', claimed_by_id = %s,
                   claimed_at = CASE WHEN pick.resumed THEN u.claimed_at ELSE %s END,
                   claim_expires_at = CASE WHEN pick.resumed AND u.claim_expires_at > %s
                                           THEN u.claim_expires_at ELSE %s END
            FROM pick WHERE u.id = pick.pid
            RETURNING {_columns(CampaignMember)}, pick.resumed
        )
        SELECT k.*, m.*, {facts}
        FROM k LEFT JOIN m ON true LEFT JOIN {Customer._meta.db_table} c ON c.id = m.customer_id
    """
    return re.sub(r"\s+", " ", sql).strip()


def _set_aside_claimed(
    member: CampaignMember,
    agent: AbstractBaseUser,
    verdict: compliance.Verdict,
    now: datetime,
    skipped: Counter,
) -> None:
    """``set_aside`` for a member claimed by a statement that has committed: only while the
    claim is still the agent's (one UPDATE, which waits on and re-reads a row someone changed)."""
    set_aside(member, verdict, now, skipped, save=False)
    _fetch(
        _SET_ASIDE_CLAIMED,
        [member.status, member.close_reason, member.closed_at, member.due_at, member.pk, agent.pk],
    )


_SET_ASIDE_CLAIMED = f"""
    UPDATE {CampaignMember._meta.db_table}
    SET status = %s, close_reason = %s, closed_at = %s, due_at = %s,
        claimed_by_id = NULL, claimed_at = NULL, claim_expires_at = NULL
    WHERE id = %s AND status = '{MemberStatus.CLAIMED.value}' AND claimed_by_id = %s
    RETURNING id
"""


def _held_claim(
    agent: AbstractBaseUser, campaigns: list[Campaign], now: datetime, skipped: Counter
) -> ClaimResult | None:
    # At most one per campaign (member_one_claim_per_agent_per_campaign), oldest first.
    holding = [c for c in campaigns if c.held_member_id]
    if not holding:
        return None
    if len(holding) > 1:  # rare: claims in several campaigns at once
        ids = [c.held_member_id for c in holding]
        since = dict(CampaignMember.objects.filter(pk__in=ids).values_list("pk", "claimed_at"))
        holding.sort(key=lambda c: since.get(c.held_member_id) or now)
    for current in holding:
        found = _lock_with_facts(
            current, now, "held", [current.held_member_id, agent.pk], skip_locked=False
        )
        if found is None:  # released, closed or expired since the survey
            continue
        member, facts = found
        verdict = member_verdict(current, member, now, facts)
        member.campaign = current
        if verdict.allowed:
            if member.claim_expires_at <= now:
                member.claim_expires_at = now + timedelta(minutes=settings.OUTREACH_CLAIM_MINUTES)
                member.save(update_fields=["claim_expires_at"])
            return ClaimResult(member, verdict, resumed=True)
        set_aside(member, verdict, now, skipped)
    return None


def _candidates(campaign: Campaign, lane: int, agent: AbstractBaseUser, at: Any) -> list:
    """The waiting members ``agent`` may take in one lane, as (kind, parameters) of the
    locking statement (see ``_WHERE``), in the order to try."""
    if lane == Lane.CALLBACK:
        return [("callback", [campaign.pk, at, agent.pk, agent.pk])]
    if campaign.assignment_mode == AssignmentMode.PULL:
        return [("free", [campaign.pk, lane, at])]
    # Pushed or owned members first, then any member nobody owns.
    return [("owned", [campaign.pk, lane, agent.pk, at]), ("free", [campaign.pk, lane, at])]


# The members each kind of locking statement looks at, and in which order (best first).
_QUEUED = f"status = '{MemberStatus.QUEUED.value}'"
_WHERE = {
    # Callbacks ``agent`` may take: their own, and any-agent ones on members nobody else owns.
    # Few rows (due callbacks): found through the index's campaign and lane, then sorted.
    "callback": (
        f"campaign_id = %s AND {_QUEUED} AND lane = {Lane.CALLBACK.value} AND due_at <= %s"
        " AND (callback_agent_id = %s"
        "      OR (callback_agent_id IS NULL AND (owner_id IS NULL OR owner_id = %s)))",
        "ORDER BY due_at, rank LIMIT 1",
    ),
    # The owner is fixed by the filter, so ordering by it changes nothing, but it lets
    # PostgreSQL read member_claim_idx (campaign, lane, owner, due_at, rank) in order and stop
    # at the first unlocked row; without it (IS NULL is no equality) it sorts the whole lane.
    "owned": (
        f"campaign_id = %s AND {_QUEUED} AND lane = %s AND owner_id = %s AND due_at <= %s",
        "ORDER BY owner_id, due_at, rank LIMIT 1",
    ),
    "free": (
        f"campaign_id = %s AND {_QUEUED} AND lane = %s AND owner_id IS NULL AND due_at <= %s",
        "ORDER BY owner_id, due_at, rank LIMIT 1",
    ),
    # The claim an agent holds, by its id (from the survey); past its expiry too, until the
    # beat returns it: it is still theirs, and renewed (a new claim would break the rule of
    # one claim per agent and campaign).
    "held": (f"id = %s AND status = '{MemberStatus.CLAIMED.value}' AND claimed_by_id = %s", ""),
    # One member, whatever its state (claim_verify).
    "one": ("id = %s", ""),
}


def _lock_with_facts(
    campaign: Campaign,
    now: datetime,
    kind: str,
    params: list,
    *,
    skip_locked: bool = True,
    claim: list | None = None,
) -> tuple[CampaignMember, compliance.Facts] | None:
    """Lock the first member of ``kind`` (``_WHERE``) and read every compliance fact about its
    customer, in one statement: the facts are read once the row is locked, in the same
    transaction, by the customer's key (one row, so every fact is an index lookup).

    With ``claim`` (agent id, claimed at, expires at) the same statement marks the row claimed
    on PostgreSQL (a round trip less); the caller puts it aside, in the same transaction, if
    a rule says no, so nobody ever sees that claim. Elsewhere the caller claims it itself."""
    facts, facts_params = compliance.facts_sql(campaign, now=now, customer="c")
    fold = claim is not None and connection.vendor == "postgresql"
    sql = _lock_sql(connection.vendor, kind, skip_locked, fold, facts)
    rows = _fetch(sql, [*params, *(claim if fold else []), *facts_params])
    if not rows:
        return None
    row = rows[0]
    member = _instance(CampaignMember, row)
    width = len(_layout(CampaignMember, connection.vendor)[0])
    found = dict(zip(_fact_names(facts), row[width:], strict=True))
    return member, compliance.facts_from_row(found)


@lru_cache(maxsize=64)
def _fact_names(facts: str) -> tuple[str, ...]:
    return tuple(re.findall(r" AS (f_\w+)", facts))


@lru_cache(maxsize=128)
def _lock_sql(vendor: str, kind: str, skip_locked: bool, claim: bool, facts: str) -> str:
    where, order = _WHERE[kind]
    lock = ""
    if connection.features.has_select_for_update:  # SQLite: the write locks the whole file
        lock = "FOR UPDATE SKIP LOCKED" if skip_locked else "FOR UPDATE"
    table = CampaignMember._meta.db_table
    claimed = ""
    if claim:
        claimed = f""",
        claimed AS (
            UPDATE {table} u SET status = '{MemberStatus.CLAIMED.value}', claimed_by_id = %s,
                   claimed_at = %s, claim_expires_at = %s
            FROM m WHERE u.id = m.id
        )"""
    return f"""
        WITH m AS (
            SELECT {_columns(CampaignMember)} FROM {table}
            WHERE {where} {order} {lock}
        ){claimed}
        SELECT {_columns(CampaignMember, "m")},
               {facts}
        FROM m JOIN {Customer._meta.db_table} c ON c.id = m.customer_id
    """


def _columns(model: Any, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    fields = _layout(model, connection.vendor)[0]
    return ", ".join(f"{prefix}{connection.ops.quote_name(f.column)}" for f in fields)


def _fetch(sql: str, params: list) -> list[tuple]:
    """Run one of the hand-written statements; its rows.

    Prepared on PostgreSQL, on a cursor kept with the connection and without Django's cursor
    wrapper (it costs as much Python as the rest of a claim) unless something watches the
    queries (DEBUG, a test capturing them, an execute wrapper)."""
    db = connections[DEFAULT_DB_ALIAS]
    if not _preparing() or db.queries_logged or db.execute_wrappers:
        with db.cursor() as cursor:  # logged as any other query
            cursor.execute(sql, params)
            return cursor.fetchall()
    db.validate_no_broken_transaction()
    with db.wrap_database_errors:
        cursor = _kept_cursor(db)
        cursor.execute(_numbered(sql), params)
        return cursor.fetchall()


def _kept_cursor(db: Any) -> Any:
    """The cursor for the hand-written statements on PostgreSQL, kept with the connection. They
    are prepared, once per connection (server-side binding; psycopg keeps the prepared
    statements): they run on every claim, and planning them cost PostgreSQL more than running
    them. Django leaves prepared statements off for transaction-pooling proxies that do not
    support them (PgBouncer before 1.21): set ``OUTREACH_CLAIM_PREPARED_STATEMENTS = False``
    behind one."""
    db.ensure_connection()
    raw = db.connection
    kept = getattr(db, "_outreach_cursor", None)
    if kept is None or kept[0] is not raw or kept[1].closed:
        if raw.prepare_threshold is None:
            # Django turns psycopg's preparing off for the whole connection; back on, but for
            # the statements that ask for it only (ours; client-side binding never prepares).
            raw.prepare_threshold = sys.maxsize
        kept = (raw, _preparing_cursor_class()(raw))
        db._outreach_cursor = kept
    return kept[1]


@lru_cache(maxsize=256)
def _numbered(sql: str) -> str:
    """``sql`` with PostgreSQL's own placeholders ($1, $2, …) for its ``%s``: psycopg then takes
    the text as it is, where it would parse it on every run (it caches its parsing of short
    statements only, and some of ours are longer)."""
    assert "%%" not in sql, "no literal % in the hand-written statements"
    numbers = iter(range(1, sql.count("%s") + 1))
    return re.sub(r"%s", lambda _match: f"${next(numbers)}", sql)


def _preparing() -> bool:
    return connection.vendor == "postgresql" and getattr(
        settings, "OUTREACH_CLAIM_PREPARED_STATEMENTS", True
    )


@lru_cache(maxsize=1)
def _preparing_cursor_class() -> Any:
    import psycopg

    class PreparingCursor(psycopg.RawCursor):
        """Server-side binding with $n placeholders (``_numbered``), every statement prepared."""

        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            return super().execute(query, params, prepare=True)

    return PreparingCursor


def _instance(model: Any, row: tuple) -> Any:
    """A ``model`` instance from the first columns of ``row`` (``_columns`` order), converted
    as the ORM would (SQLite's text datetimes, JSON, decimals)."""
    fields, attnames, converted = _layout(model, connection.vendor)
    values = list(row[: len(fields)])
    for i in converted:
        expression = fields[i].get_col(model._meta.db_table)
        for converter in _converters(expression):
            values[i] = converter(values[i], expression, connection)
    return model.from_db(connection.alias, attnames, values)


@lru_cache(maxsize=16)
def _layout(model: Any, vendor: str) -> tuple[list, list[str], list[int]]:
    """``model``'s columns, their attribute names, and which of them the database hands back
    in a form the model does not take."""
    fields = list(model._meta.concrete_fields)
    table = model._meta.db_table
    converted = [i for i, f in enumerate(fields) if _converters(f.get_col(table))]
    return fields, [f.attname for f in fields], converted


def _converters(expression: Any) -> list:
    return connection.ops.get_db_converters(expression) + expression.get_db_converters(connection)


def _claim_from(
    campaign: Campaign,
    kind: str,
    params: list,
    agent: AbstractBaseUser,
    now: datetime,
    skipped: Counter,
) -> ClaimResult | None:
    expires = now + timedelta(minutes=settings.OUTREACH_CLAIM_MINUTES)
    adapt = connection.ops.adapt_datetimefield_value
    claim = [agent.pk, adapt(now), adapt(expires)]
    while sum(skipped.values()) < MAX_SKIPS:
        found = _lock_with_facts(campaign, now, kind, params, claim=claim)
        if found is None:
            return None
        member, facts = found
        verdict = member_verdict(campaign, member, now, facts)
        if not verdict.allowed:
            set_aside(member, verdict, now, skipped)
            continue
        if connection.vendor != "postgresql":  # not claimed by the locking statement
            with connection.cursor() as cursor:
                cursor.execute(_CLAIM, [*claim, member.pk])
        member.status = MemberStatus.CLAIMED
        member.claimed_by = agent
        member.claimed_at = now
        member.claim_expires_at = expires
        member.campaign = campaign
        return ClaimResult(member, verdict)
    return None


_CLAIM = f"""
    UPDATE {CampaignMember._meta.db_table}
    SET status = '{MemberStatus.CLAIMED.value}', claimed_by_id = %s, claimed_at = %s,
        claim_expires_at = %s
    WHERE id = %s
"""


def member_verdict(
    campaign: Campaign,
    member: CampaignMember,
    now: datetime,
    facts: compliance.Facts | None = None,
) -> compliance.Verdict:
    """The rules for ``member`` now; ``facts`` default to its ``f_*`` annotations."""
    # A callback the customer asked for is honoured past the attempt limit and the frequency
    # cap (never past a suppression or the calling window).
    facts = facts if facts is not None else compliance.Facts.of(member)
    return compliance.evaluate(
        campaign,
        facts,
        now=now,
        attempts=member.attempts,
        requested_callback=member.lane == Lane.CALLBACK,
    )


@transaction.atomic
def claim_verify(
    *, member: CampaignMember, agent: AbstractBaseUser, now: datetime | None = None
) -> compliance.Verdict:
    """Right before dialling or sending: may the held member still be contacted? A refusal or
    do-not-contact logged meanwhile (by anyone, in any campaign) wins; a failed check takes
    the member out of the queue, or back until the rule clears, and ends the claim."""
    now = now or timezone.now()
    campaign = Campaign.objects.get(pk=member.campaign_id)
    found = _lock_with_facts(campaign, now, "one", [member.pk], skip_locked=False)
    if found is None:
        raise CampaignMember.DoesNotExist("CampaignMember matching query does not exist.")
    locked, facts = found
    if locked.status != MemberStatus.CLAIMED or locked.claimed_by_id != agent.pk:
        closed = compliance.Block(
            locked.close_reason or "not_claimed",
            str(CloseReason(locked.close_reason).label)
            if locked.close_reason
            else _("You do not hold this member."),
            True,
        )
        return compliance.Verdict([closed])
    verdict = member_verdict(campaign, locked, now, facts)
    if not verdict.allowed:
        set_aside(locked, verdict, now, Counter())
    return verdict


_SET_ASIDE_FIELDS = (
    "status",
    "close_reason",
    "closed_at",
    "due_at",
    "claimed_by",
    "claimed_at",
    "claim_expires_at",
)


def set_aside(
    member: CampaignMember,
    verdict: compliance.Verdict,
    now: datetime,
    skipped: Counter,
    *,
    save: bool = True,
) -> None:
    """Apply a failed check to a locked member: leave the campaign, or wait until it clears."""
    permanent = verdict.permanent
    if permanent is not None:
        reason = _close_reason(permanent.code)
        member.status = (
            MemberStatus.DONE if reason == CloseReason.EXHAUSTED else MemberStatus.EXCLUDED
        )
        member.close_reason = reason
        member.closed_at = now
        skipped[permanent.code] += 1
    else:
        member.status = MemberStatus.QUEUED
        member.due_at = verdict.retry_at or now + RECHECK_AFTER
        skipped[verdict.blocks[0].code] += 1
    member.claimed_by = None
    member.claimed_at = None
    member.claim_expires_at = None
    if save:
        member.save(update_fields=_SET_ASIDE_FIELDS)


def _close_reason(code: str) -> str:
    if code == compliance.Check.ATTEMPTS_EXHAUSTED:
        return CloseReason.EXHAUSTED
    if code == compliance.Check.OUTSIDE_WINDOW:
        return CloseReason.CAMPAIGN_ENDED
    return code


@transaction.atomic
def claim_release(
    *, member: CampaignMember, agent: AbstractBaseUser, now: datetime | None = None
) -> CampaignMember:
    """Give a claimed member back to the queue, where it was."""
    locked = CampaignMember.objects.select_for_update().get(pk=member.pk)
    if locked.status != MemberStatus.CLAIMED or locked.claimed_by_id != agent.pk:
        raise ValidationError(_("You do not hold this member."), code="not_claimed")
    locked.status = MemberStatus.QUEUED
    locked.claimed_by = None
    locked.claimed_at = None
    locked.claim_expires_at = None
    locked.save(update_fields=["status", "claimed_by", "claimed_at", "claim_expires_at"])
    return locked


def claims_expire(*, now: datetime | None = None) -> int:
    """Return every claim held past its expiry to the queue (beat, every minute)."""
    now = now or timezone.now()
    return CampaignMember.objects.filter(
        status=MemberStatus.CLAIMED, claim_expires_at__lte=now
    ).update(status=MemberStatus.QUEUED, claimed_by=None, claimed_at=None, claim_expires_at=None)
