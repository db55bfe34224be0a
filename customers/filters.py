import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, ImportJob, ImportKind, ImportRowError, ImportState, Purchase


class ImportJobFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=ImportKind.choices)
    state = django_filters.ChoiceFilter(choices=ImportState.choices)
    dry_run = django_filters.BooleanFilter()
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = ImportJob
        fields = ["kind", "state", "dry_run", "source"]


class ImportRowErrorFilter(django_filters.FilterSet):
    code = django_filters.CharFilter()
    column = django_filters.CharFilter()

    class Meta:
        model = ImportRowError
        fields = ["code", "column"]


class CustomerFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label=_("Search"))
    source = django_filters.CharFilter()
    prefecture = django_filters.CharFilter()
    gender = django_filters.CharFilter()

    class Meta:
        model = Customer
        fields = ["q", "source", "prefecture", "gender"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # Exact matches on indexed keys, prefix on names: fast on a million customers.
        return queryset.filter(
            Q(external_id=value)
            | Q(email=value)
            | Q(phone=value)
            | Q(mobile_phone=value)
            | Q(name__startswith=value)
            | Q(name_kana__startswith=value)
        )


class PurchaseFilter(django_filters.FilterSet):
    purchased_after = django_filters.IsoDateTimeFilter(field_name="purchased_at", lookup_expr="gte")
    purchased_before = django_filters.IsoDateTimeFilter(field_name="purchased_at", lookup_expr="lt")

    class Meta:
        model = Purchase
        fields = ["customer", "category", "source"]
