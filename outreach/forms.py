"""The outcome form agents submit after a contact."""

from __future__ import annotations

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, CampaignKind
from customers.models import Channel
from outreach.models import Disposition, VoiceCategory

DISCLOSURE_ITEMS = (
    ("disclosed_company", _("Company name")),
    ("disclosed_caller", _("Your own name")),
    ("disclosed_product", _("Product or service")),
    ("disclosed_purpose", _("That this is a solicitation")),
)


class OutcomeForm(forms.Form):
    """Disposition (required), notes, callback, customer voice, NPS on surveys and the Art.16
    disclosure checklist on calls. Validation of the meaning is the outcome service's."""

    disposition = forms.ModelChoiceField(
        queryset=Disposition.objects.none(),
        widget=forms.RadioSelect,
        label=_("Outcome"),
        to_field_name="code",
        error_messages={"required": _("Choose an outcome.")},
    )
    notes = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    callback_at = forms.DateTimeField(
        label=_("Callback at"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
    )
    callback_personal = forms.TypedChoiceField(
        label=_("Who calls back"),
        choices=[("1", _("Me")), ("0", _("Any agent"))],
        coerce=lambda value: value == "1",
        initial="1",
        required=False,
    )
    voice_category = forms.ChoiceField(
        label=_("Customer voice"), choices=VoiceCategory.choices, required=False
    )
    voice_text = forms.CharField(
        label=_("What the customer said"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    nps = forms.TypedChoiceField(
        label=_("How likely to recommend us (0–10)"),
        choices=[("", "—")] + [(str(n), str(n)) for n in range(11)],
        coerce=int,
        empty_value=None,
        required=False,
    )
    duration_seconds = forms.IntegerField(min_value=0, required=False, widget=forms.HiddenInput)
    idempotency_key = forms.CharField(max_length=80, widget=forms.HiddenInput)

    def __init__(self, *args, campaign: Campaign, **kwargs) -> None:
        kwargs.setdefault("initial", {}).setdefault("idempotency_key", uuid.uuid4().hex)
        super().__init__(*args, **kwargs)
        self.campaign = campaign
        self.fields["disposition"].queryset = (
            Disposition.objects.filter(is_active=True)
            .filter(channel__in=["", campaign.channel])
            .order_by("position", "id")
        )
        self.fields["disposition"].label_from_instance = lambda d: d.display_name()
        self.is_call = campaign.channel == Channel.CALL
        if self.is_call:
            for name, label in DISCLOSURE_ITEMS:
                self.fields[name] = forms.BooleanField(label=label, required=False)
        if campaign.kind != CampaignKind.NPS_SURVEY:
            del self.fields["nps"]

    @property
    def disclosure_fields(self) -> list:
        return [self[name] for name, _label in DISCLOSURE_ITEMS if name in self.fields]

    def disclosure_given(self) -> bool:
        return self.is_call and all(
            self.cleaned_data.get(name) for name, _label in DISCLOSURE_ITEMS
        )

    def service_arguments(self) -> dict:
        data = self.cleaned_data
        disposition = data["disposition"]
        return {
            "disposition": disposition,
            "idempotency_key": data["idempotency_key"],
            "notes": data.get("notes") or "",
            "voice_category": data.get("voice_category") or "",
            "voice_text": data.get("voice_text") or "",
            "nps": data.get("nps"),
            "callback_at": data.get("callback_at") if disposition.callback else None,
            "callback_personal": data.get("callback_personal") if disposition.callback else None,
            "disclosure_given": self.disclosure_given(),
        }
