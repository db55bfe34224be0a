import django_filters
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, CampaignKind, CampaignState
from customers.models import Channel


class CampaignFilter(django_filters.FilterSet):
    """Campaign list filters, shared by the supervisor page and the API."""

    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label=_("Name"))
    state = django_filters.ChoiceFilter(choices=CampaignState.choices, label=_("State"))
    kind = django_filters.ChoiceFilter(choices=CampaignKind.choices, label=_("Kind"))
    channel = django_filters.ChoiceFilter(choices=Channel.choices, label=_("Channel"))
    starts_after = django_filters.DateFilter(
        field_name="starts_on", lookup_expr="gte", label=_("Starts on or after")
    )
    starts_before = django_filters.DateFilter(
        field_name="starts_on", lookup_expr="lte", label=_("Starts on or before")
    )

    class Meta:
        model = Campaign
        fields = ["q", "state", "kind", "channel", "starts_after", "starts_before"]
