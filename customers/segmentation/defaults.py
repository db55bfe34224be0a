"""The default segment rules (from the domain notes), seeded by a migration; supervisors edit them."""


def _rf(r: list[int], f: list[int]) -> dict:
    return {"all": [{"field": "r", "op": "in", "value": r}, {"field": "f", "op": "in", "value": f}]}


def _one_purchase(r: list[int]) -> dict:
    # "New" means one order ever (新規, 1回のみ): with quintile F scores, F1 need not mean one order,
    # so these rules count orders and come before the repeat-buyer rules.
    return {
        "all": [
            {"field": "purchase_count", "op": "eq", "value": 1},
            {"field": "r", "op": "in", "value": r},
        ]
    }


DEFAULT_SEGMENTS: list[dict] = [
    {
        "key": "champions",
        "name": "Champions",
        "name_ja": "優良顧客",
        "color": "#1a7f37",
        "conditions": _rf([5], [4, 5]),
        "description": "Bought recently and often: members-only offers, VIP care.",
    },
    {
        "key": "loyal",
        "name": "Loyal",
        "name_ja": "ロイヤル顧客",
        "color": "#2da44e",
        "conditions": _rf([3, 4], [4, 5]),
        "description": "Buy often; upsell and cross-sell.",
    },
    {
        "key": "new",
        "lifecycle": "new",
        "name": "New (one purchase)",
        "name_ja": "新規（1回のみ）",
        "color": "#0969da",
        "conditions": _one_purchase([5]),
        "description": "First purchase only, recently: onboarding and understanding offers.",
    },
    {
        "key": "promising",
        "lifecycle": "new",
        "name": "Promising",
        "name_ja": "有望顧客",
        "color": "#54aeff",
        "conditions": _one_purchase([4]),
        "description": "One recent purchase.",
    },
    {
        "key": "potential_loyalist",
        "name": "Potential loyalist",
        "name_ja": "優良候補",
        "color": "#4ac26b",
        "conditions": _rf([4, 5], [2, 3]),
        "description": "Recent repeat buyers: repeat-buyer coupons.",
    },
    {
        "key": "need_attention",
        "name": "Need attention",
        "name_ja": "要注意",
        "color": "#bf8700",
        "conditions": _rf([3], [3]),
        "description": "Average on both; slipping.",
    },
    {
        "key": "about_to_sleep",
        "lifecycle": "dormant",
        "name": "About to sleep",
        "name_ja": "休眠予備軍",
        "color": "#d4a72c",
        "conditions": _rf([3], [1, 2]),
        "description": "Few purchases, not recent.",
    },
    {
        "key": "at_risk",
        "lifecycle": "dormant",
        "name": "At risk",
        "name_ja": "離反リスク",
        "color": "#cf222e",
        "conditions": _rf([1, 2], [3, 4]),
        "description": "Bought often, long ago: reactivation calls.",
    },
    {
        "key": "cant_lose",
        "lifecycle": "dormant",
        "name": "Can't lose",
        "name_ja": "失えない顧客",
        "color": "#a40e26",
        "conditions": _rf([1, 2], [5]),
        "description": "Best customers who stopped buying: call them first.",
    },
    {
        "key": "lost",
        "lifecycle": "dormant",
        "name": "Lost",
        "name_ja": "離反顧客",
        "color": "#6e7781",
        "conditions": {"all": [{"field": "recency_days", "op": "gte", "value": 730}]},
        "description": "No purchase for two years or more.",
    },
    {
        "key": "hibernating",
        "lifecycle": "dormant",
        "name": "Hibernating",
        "name_ja": "休眠顧客",
        "color": "#8c959f",
        "conditions": _rf([1, 2], [1, 2]),
        "description": "Dormant: few purchases, long ago. Reactivation.",
    },
    {
        "key": "no_purchase",
        "lifecycle": "new",
        "name": "No purchase yet",
        "name_ja": "未購入",
        "color": "#afb8c1",
        "conditions": {"all": [{"field": "purchase_count", "op": "eq", "value": 0}]},
        "description": "Registered but never bought.",
    },
    {
        "key": "other",
        "name": "Other",
        "name_ja": "その他",
        "color": "#d0d7de",
        "conditions": {},
        "description": "Everyone no rule above took.",
    },
]


def segments_ensure_defaults() -> int:
    """Seed the default segments and RFM settings when there are none (after a flush, or on a
    database created without migrations' data). Returns the number of segments created."""
    from customers.models import RfmSettings, Segment

    if not RfmSettings.objects.exists():
        RfmSettings.objects.create()
    if Segment.objects.exists():
        return 0
    Segment.objects.bulk_create(
        Segment(**data, position=position * 10)
        for position, data in enumerate(DEFAULT_SEGMENTS, start=1)
    )
    return len(DEFAULT_SEGMENTS)


def segments_ensure_after_migrate(sender, app_config=None, **kwargs) -> None:
    if app_config is not None and app_config.label == "customers":
        segments_ensure_defaults()
