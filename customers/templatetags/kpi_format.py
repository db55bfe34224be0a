"""Show KPI numbers: a missing rate (no base to divide by) is an em dash, never 0 or an error."""

from decimal import Decimal

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

register = template.Library()


@register.filter
def rate(value, suffix: str = "%"):
    """``12.5`` → ``12.5%``; ``None`` → ``—``."""
    if value is None:
        return "—"
    return f"{float(value):.1f}{suffix}"


@register.filter
def amount(value):
    """A money amount without decimals and with thousands separators; ``None`` → ``—``."""
    if value is None:
        return "—"
    return intcomma(int(Decimal(value).quantize(Decimal(1))))


@register.filter
def seconds(value):
    """Seconds as ``m:ss``; ``None`` → ``—``."""
    if value is None:
        return "—"
    total = round(float(value))
    return f"{total // 60}:{total % 60:02d}"
