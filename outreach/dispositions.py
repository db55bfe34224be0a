"""The default contact outcomes (結果コード), seeded by a migration and re-seeded after a flush;
supervisors edit them in the admin."""

_CALL = "call"
_EMAIL = "email"

DEFAULT_DISPOSITIONS: list[dict] = [
    {
        "code": "success",
        "name": "Success (converted)",
        "name_ja": "成約",
        "channel": _CALL,
        "shortcut": "1",
        "reached": True,
        "success": True,
        "final_for_campaign": True,
        "requires_disclosure": True,
    },
    {
        "code": "interested",
        "name": "Interested, considering",
        "name_ja": "興味あり・検討中",
        "channel": _CALL,
        "shortcut": "2",
        "reached": True,
        "callback": True,
        "callback_scope": "personal",
    },
    {
        "code": "callback_personal",
        "name": "Callback (asked for me)",
        "name_ja": "コールバック（本人指定）",
        "channel": _CALL,
        "shortcut": "3",
        "reached": True,
        "callback": True,
        "callback_scope": "personal",
    },
    {
        "code": "callback_any",
        "name": "Callback (any agent)",
        "name_ja": "コールバック（誰でも可）",
        "channel": _CALL,
        "shortcut": "4",
        "reached": True,
        "callback": True,
        "callback_scope": "any_agent",
    },
    {
        "code": "no_answer",
        "name": "No answer",
        "name_ja": "不在",
        "channel": _CALL,
        "shortcut": "5",
        "retry_after_minutes": 120,
    },
    {
        "code": "busy",
        "name": "Busy",
        "name_ja": "話し中",
        "channel": _CALL,
        "shortcut": "6",
        "retry_after_minutes": 30,
    },
    {
        "code": "voicemail",
        "name": "Voicemail",
        "name_ja": "留守電",
        "channel": _CALL,
        "shortcut": "7",
        "retry_after_minutes": 240,
    },
    {
        "code": "refused",
        "name": "Refused (this product)",
        "name_ja": "断り（この商品）",
        "channel": _CALL,
        "shortcut": "8",
        "reached": True,
        "refused_product": True,
        "final_for_campaign": True,
    },
    {
        "code": "do_not_contact",
        "name": "Do not contact again",
        "name_ja": "今後連絡不要",
        "channel": _CALL,
        "shortcut": "9",
        "reached": True,
        "do_not_contact": True,
        "final_for_campaign": True,
    },
    {
        "code": "wrong_number",
        "name": "Wrong number",
        "name_ja": "番号違い",
        "channel": _CALL,
        "shortcut": "0",
        "wrong_number": True,
        "final_for_campaign": True,
    },
    {
        "code": "not_eligible",
        "name": "Not eligible / already done",
        "name_ja": "対象外・完了",
        "channel": _CALL,
        "reached": True,
        "final_for_campaign": True,
    },
    {
        "code": "email_sent",
        "name": "Email sent",
        "name_ja": "メール送信済",
        "channel": _EMAIL,
        "counts_as_attempt": True,
        "final_for_campaign": True,  # one e-mail per member and campaign
    },
    {
        "code": "unsubscribed",
        "name": "Unsubscribed",
        "name_ja": "配信停止",
        "channel": _EMAIL,
        "email_opt_out": True,
        "final_for_campaign": True,
        "counts_as_attempt": False,  # an unsubscribe is not a contact for the frequency cap
    },
    {
        "code": "bounced",
        "name": "Bounced",
        "name_ja": "不達",
        "channel": _EMAIL,
        "final_for_campaign": True,
    },
]


def dispositions_ensure_defaults(disposition_model=None) -> int:
    """Seed the default outcomes when there are none (after a flush, or on a database created
    without migrations' data). Pass the historical model from a data migration. Returns the number
    created."""
    if disposition_model is None:
        from outreach.models import Disposition as disposition_model
    if disposition_model.objects.exists():
        return 0
    disposition_model.objects.bulk_create(
        disposition_model(**data, position=position * 10)
        for position, data in enumerate(DEFAULT_DISPOSITIONS, start=1)
    )
    return len(DEFAULT_DISPOSITIONS)


def dispositions_ensure_after_migrate(sender, app_config=None, **kwargs) -> None:
    if app_config is not None and app_config.label == "outreach":
        dispositions_ensure_defaults()
