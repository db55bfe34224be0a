"""Readable forms of scoring parameters for pages and the API."""

from django.utils import formats
from django.utils.translation import gettext as _

from customers.models import RfmMethod


def _number(value) -> str:
    value = float(value)
    return formats.number_format(
        int(value) if value.is_integer() else round(value, 2), use_l10n=True, force_grouping=True
    )


def edge_labels(edges: dict | None) -> dict[str, list[str]]:
    """Readable edges per dimension, best score first: ``R5: ≤ 12 days``, ``F2: ≥ 2 orders``.

    ``edges`` holds the thresholds for scores 2..5 (see ``customers.segmentation.scoring``).
    """
    if not edges:
        return {"r": [], "f": [], "m": []}
    labels: dict[str, list[str]] = {"r": [], "f": [], "m": []}
    for score in (5, 4, 3, 2):
        edge = edges["r"][score - 2]
        labels["r"].append(
            _("R%(score)s: ≤ %(days)s days") % {"score": score, "days": _number(edge)}
            if edge is not None
            else _("R%(score)s: not reached") % {"score": score}
        )
    labels["r"].append(_("R1: the rest"))
    units = {
        "f": lambda score, edge: (
            _("F%(score)s: ≥ %(orders)s orders") % {"score": score, "orders": _number(edge)}
        ),
        "m": lambda score, edge: (
            _("M%(score)s: ≥ %(amount)s") % {"score": score, "amount": _number(edge)}
        ),
    }
    for dim in ("f", "m"):
        for score in (5, 4, 3, 2):
            edge = edges[dim][score - 2]
            labels[dim].append(
                units[dim](score, edge)
                if edge is not None
                else _("%(dim)s%(score)s: not reached") % {"dim": dim.upper(), "score": score}
            )
        labels[dim].append(_("%(dim)s1: the rest") % {"dim": dim.upper()})
    return labels


def method_label(method: str | None) -> str:
    if not method:
        return ""
    try:
        return str(RfmMethod(method).label)
    except ValueError:
        return method
