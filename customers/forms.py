from django import forms
from django.utils.translation import gettext_lazy as _

from customers.importing.columns import ATTRIBUTE_PREFIX, IGNORE, fields_for
from customers.models import ImportJob, ImportKind, ImportTemplate
from customers.models.imports import MatchField


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"), choices=ImportKind.choices)
    file = forms.FileField(
        label=_("File (CSV or Excel .xlsx)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.txt,.tsv,.xlsx"}),
    )
    source = forms.CharField(
        label=_("Source"),
        initial="default",
        max_length=64,
        help_text=_("The system the list comes from; customer ids are unique within a source."),
    )
    template = forms.ModelChoiceField(
        label=_("Mapping template"), queryset=ImportTemplate.objects.all(), required=False
    )


class ImportMappingForm(forms.Form):
    """One select per header of the file: a field, an attribute, or ignore."""

    match_by = forms.MultipleChoiceField(
        label=_("Match existing customers by"),
        choices=MatchField.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_(
            "Customer id always matches first; phone and e-mail are used only when ticked."
        ),
    )
    source = forms.CharField(label=_("Source"), max_length=64)

    def __init__(self, *args, job: ImportJob, **kwargs):
        super().__init__(*args, **kwargs)
        self.job = job
        specs = fields_for(job.kind)
        field_choices = [(name, f"{spec.label}") for name, spec in specs.items()]
        self.header_fields: list[tuple[str, str]] = []
        for index, header in enumerate(job.headers):
            current = job.mapping.get(header, "")
            choices = [
                (IGNORE, _("— ignore —")),
                (
                    ATTRIBUTE_PREFIX + header.strip(),
                    _("Keep as attribute “%(name)s”") % {"name": header.strip()},
                ),
                *field_choices,
            ]
            if current not in dict(choices):
                choices.append((current, current))
            name = f"col_{index}"
            self.fields[name] = forms.ChoiceField(
                label=header, choices=choices, initial=current, required=False
            )
            self.header_fields.append((name, header))
        self.fields["match_by"].initial = job.match_by
        self.fields["source"].initial = job.source
        if job.kind != ImportKind.CUSTOMERS:
            del self.fields["match_by"]

    def mapping(self) -> dict[str, str]:
        return {
            header: self.cleaned_data.get(name) or IGNORE for name, header in self.header_fields
        }


class ImportTemplateForm(forms.Form):
    name = forms.CharField(label=_("Template name"), max_length=120)
