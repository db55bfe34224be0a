"""Template filters of the agent workspace: masked contact details and money in the local way."""

from decimal import Decimal

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma
from django.utils.translation import get_language

register = template.Library()


@register.filter
def masked(value: str | None, visible: bool = False) -> str:
    """The whole phone number or address only for the agent working the claim; otherwise the
    last digits of a number (+81 ••• •• 5678) or the first letter and domain of an address."""
    if not value:
        return ""
    if visible:
        return value
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}•••@{domain}"
    return f"{value[:3]} ••• {value[-4:]}" if len(value) > 7 else "•••"


@register.filter
def yen(amount) -> str:
    """12,345円 in Japanese, ¥12,345 otherwise (whole yen)."""
    if amount is None or amount == "":
        return "–"
    whole = int(Decimal(amount).quantize(Decimal(1)))
    text = intcomma(whole, use_l10n=False)
    return f"{text}円" if (get_language() or "").startswith("ja") else f"¥{text}"
