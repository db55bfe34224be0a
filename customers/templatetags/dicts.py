from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """``{{ row|get_item:key }}`` for dictionaries whose keys are not valid template names."""
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def cell(value):
    """Show a preview value: lists joined, objects as ``key: value`` pairs."""
    if value is None:
        return ""
    if isinstance(value, list):
        return "、".join(str(v) for v in value)
    if isinstance(value, dict):
        return " / ".join(f"{k}: {v}" for k, v in value.items())
    return value


@register.filter
def sum_values(values):
    """Sum of numbers (e.g. ``launch.excluded.values``)."""
    return sum(values or [])
