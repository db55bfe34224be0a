"""Forms of the segment pages: the rule editor and the member filters."""

from __future__ import annotations

import json

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customers.models import Segment

SCORE_CHOICES = [("", "—"), *((str(n), str(n)) for n in range(5, 0, -1))]


class ConditionsField(forms.JSONField):
    """The conditions as indented JSON; empty means "everyone"."""

    default_error_messages = {
        "invalid": _(
            "The conditions are not valid JSON (line %(line)s, column %(column)s): %(error)s"
        ),
    }

    def to_python(self, value):
        if value in self.empty_values:
            return {}
        try:
            return json.loads(value, cls=self.decoder)
        except json.JSONDecodeError as error:
            raise ValidationError(
                self.error_messages["invalid"],
                code="invalid",
                params={"error": error.msg, "line": error.lineno, "column": error.colno},
            ) from error

    def prepare_value(self, value):
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return "" if value is None else pretty_conditions(value)


def _compact(value) -> bool:
    """A value written on one line: a condition, or anything without nested groups."""
    if isinstance(value, dict):
        return "field" in value or not any(isinstance(v, dict | list) and v for v in value.values())
    if isinstance(value, list):
        return not any(isinstance(v, dict | list) and v for v in value)
    return True


def pretty_conditions(value, indent: int = 0) -> str:
    """JSON with one condition per line and groups indented: easy to read and to edit."""
    if _compact(value):
        return json.dumps(value, ensure_ascii=False)
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict):
        items = [
            f"{inner}{json.dumps(k, ensure_ascii=False)}: {pretty_conditions(v, indent + 1)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    items = [f"{inner}{pretty_conditions(v, indent + 1)}" for v in value]
    return "[\n" + ",\n".join(items) + f"\n{pad}]"


class SegmentForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("segment", "Name"), max_length=80)
    name_ja = forms.CharField(label=_("Name (Japanese)"), max_length=80, required=False)
    key = forms.SlugField(
        label=_("Key"),
        max_length=40,
        required=False,
        help_text=_("Letters, digits, - and _. Left empty, one is made from the name."),
    )
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    position = forms.IntegerField(
        label=pgettext_lazy("position of a segment rule", "Order"),
        min_value=0,
        initial=100,
        help_text=_("Active segments are tried from the lowest number; the first match wins."),
    )
    is_active = forms.BooleanField(label=_("Active"), required=False, initial=True)
    color = forms.RegexField(
        label=_("Colour"),
        regex=r"^#[0-9a-fA-F]{6}$",
        initial="#5b6477",
        widget=forms.TextInput(attrs={"type": "color"}),
        error_messages={"invalid": _("Pick a colour such as #1a7f37.")},
    )
    conditions = ConditionsField(
        label=_("Conditions (JSON)"),
        required=False,
        initial={"all": []},
        widget=forms.Textarea(attrs={"rows": 12, "spellcheck": "false", "class": "code"}),
        help_text=_(
            'For example {"all": [{"field": "r", "op": "in", "value": [4, 5]}, '
            '{"field": "f", "op": "gte", "value": 3}]}. Empty: everyone.'
        ),
    )
    MODEL_FIELDS = ("name", "name_ja", "key", "description", "position", "is_active", "color")

    def __init__(self, *args, segment: Segment | None = None, **kwargs):
        self.segment = segment
        if segment is not None and segment.pk and "initial" not in kwargs:
            kwargs["initial"] = {
                **{name: getattr(segment, name) for name in self.MODEL_FIELDS},
                "conditions": segment.conditions,
            }
        super().__init__(*args, **kwargs)
        if segment is not None and segment.pk:
            # The key is what code and reports refer to: fixed once the segment exists.
            self.fields["key"].disabled = True
            self.fields["key"].help_text = ""

    def segment_fields(self) -> dict:
        """The cleaned values as keyword arguments for ``segment_save``."""
        data = {name: self.cleaned_data[name] for name in self.MODEL_FIELDS}
        data["conditions"] = self.cleaned_data["conditions"]
        if self.segment is not None and self.segment.pk:
            del data["key"]
        return data

    def add_save_error(self, error: ValidationError) -> None:
        """File each message of ``segment_save`` next to its field (condition errors under the
        conditions)."""
        if hasattr(error, "error_dict"):
            for name, errors in error.error_dict.items():
                field = name if name in self.fields else None
                for item in errors:
                    self.add_error(field, item.messages)
        else:
            self.add_error("conditions", error.messages)


class MemberFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        help_text=_("Customer id, or the start of the name or kana."),
    )
    prefecture = forms.CharField(label=_("Prefecture"), required=False)
    r = forms.TypedChoiceField(
        label="R", choices=SCORE_CHOICES, coerce=int, empty_value=None, required=False
    )
    f = forms.TypedChoiceField(
        label="F", choices=SCORE_CHOICES, coerce=int, empty_value=None, required=False
    )
    m = forms.TypedChoiceField(
        label="M", choices=SCORE_CHOICES, coerce=int, empty_value=None, required=False
    )

    def filters(self) -> dict:
        if not self.is_valid():
            return {}
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}


class RunPairForm(forms.Form):
    """The two runs a migration matrix compares."""

    from_run = forms.ModelChoiceField(label=_("From run"), queryset=None, required=False)
    to_run = forms.ModelChoiceField(label=_("To run"), queryset=None, required=False)

    def __init__(self, *args, runs, **kwargs):
        super().__init__(*args, **kwargs)
        for name in ("from_run", "to_run"):
            self.fields[name].queryset = runs
            self.fields[name].label_from_instance = _run_label
            self.fields[name].empty_label = None


def _run_label(run) -> str:
    return f"#{run.pk} · {run.reference_date:%Y-%m-%d} · {run.get_cause_display()}"
