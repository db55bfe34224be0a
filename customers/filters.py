import datetime as dt

import django_filters
import polars as pl
from django import forms
from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django_filters.fields import IsoDateTimeField

from customers.importing.normalize import normalize_email, normalize_phone
from customers.models import (
    Customer,
    CustomerRfm,
    ImportJob,
    ImportKind,
    ImportRowError,
    ImportState,
    ImportTemplate,
    Purchase,
    SegmentationRun,
    SegmentTransition,
)
from customers.models.people import same_value


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time handed to the database in UTC. ISO allows offsets PostgreSQL
    refuses (beyond ±15:59) and dates that only exist before UTC conversion (year 1 +10:00):
    the first is converted, the second is a validation error rather than a server error."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(dt.UTC)
        except OverflowError as error:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from error


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField


class ImportJobFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=ImportKind.choices)
    state = django_filters.ChoiceFilter(choices=ImportState.choices)
    dry_run = django_filters.BooleanFilter()
    created_after = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

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
        return queryset.filter(customer_search_q(value)) if value.strip() else queryset


def customer_search_q(value: str) -> Q:
    """Customers matching what a supervisor types. A phone number or an e-mail address is looked
    up as stored (E.164, lower-case domain) through the lookup indexes, so "090-1234-5678",
    "０９０１２３４５６７８" or "Taro@Example.JP" find the customer at once on a million; any
    other term matches an external id exactly or a name or kana by prefix (names have no
    index: that search reads the table)."""
    value = value.strip()
    series = pl.Series([value], dtype=pl.String)
    phone = normalize_phone(series, region=settings.DEFAULT_PHONE_REGION).values[0]
    email = normalize_email(series).values[0]
    found = Q(external_id=value)
    if phone:
        for number in {value, phone}:
            found |= same_value("phone", number) | same_value("mobile_phone", number)
    elif email:
        for address in {value, email}:
            found |= same_value("email", address)
    else:
        found |= Q(name__startswith=value) | Q(name_kana__startswith=value)
    return found


class PurchaseFilter(django_filters.FilterSet):
    purchased_after = UtcIsoDateTimeFilter(field_name="purchased_at", lookup_expr="gte")
    purchased_before = UtcIsoDateTimeFilter(field_name="purchased_at", lookup_expr="lt")

    class Meta:
        model = Purchase
        fields = ["customer", "category", "source"]


class ImportTemplateFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=ImportKind.choices)

    class Meta:
        model = ImportTemplate
        fields = ["kind"]


class SegmentMemberFilter(django_filters.FilterSet):
    """Members of one segment: by external id or name prefix, prefecture and R/F/M score
    (the segment page and the API)."""

    q = django_filters.CharFilter(method="search", label=_("Search"))
    prefecture = django_filters.CharFilter(field_name="customer__prefecture")
    r = django_filters.NumberFilter(min_value=1, max_value=5)
    f = django_filters.NumberFilter(min_value=1, max_value=5)
    m = django_filters.NumberFilter(min_value=1, max_value=5)

    class Meta:
        model = CustomerRfm
        fields = ["q", "prefecture", "r", "f", "m"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(customer__external_id=value)
            | Q(customer__name__startswith=value)
            | Q(customer__name_kana__startswith=value)
        )


class SegmentTransitionFilter(django_filters.FilterSet):
    customer = django_filters.NumberFilter(field_name="customer_id", min_value=1)
    run = django_filters.NumberFilter(field_name="run_id", min_value=1)
    from_segment = django_filters.NumberFilter(field_name="from_segment_id", min_value=1)
    to_segment = django_filters.NumberFilter(field_name="to_segment_id", min_value=1)

    class Meta:
        model = SegmentTransition
        fields = ["customer", "run", "from_segment", "to_segment"]


class SegmentationRunFilter(django_filters.FilterSet):
    cause = django_filters.ChoiceFilter(choices=SegmentationRun.Cause.choices)
    full = django_filters.BooleanFilter(field_name="parameters__full", label=_("Full run"))
    reference_after = django_filters.DateFilter(field_name="reference_date", lookup_expr="gte")
    reference_before = django_filters.DateFilter(field_name="reference_date", lookup_expr="lte")

    class Meta:
        model = SegmentationRun
        fields = ["cause", "method", "full"]
