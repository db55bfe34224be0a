from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    """``{{ row|get_item:key }}`` for dictionaries whose keys are not valid template names."""
    return mapping.get(key) if hasattr(mapping, "get") else None
