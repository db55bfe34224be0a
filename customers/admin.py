from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from config.admin_actions import ReadOnlyAdmin, action_form_step
from customers.filters import customer_search_q
from customers.models import (
    CategoryAffinity,
    ConsentRecord,
    Customer,
    CustomerRfm,
    DoNotContact,
    ImportJob,
    ImportRowError,
    ImportTemplate,
    KpiSnapshot,
    LtvSettings,
    ProductRefusal,
    Purchase,
    RfmSettings,
    Segment,
    SegmentationRun,
    SegmentTransition,
)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "external_id",
        "name",
        "name_kana",
        "prefecture",
        "phone",
        "mobile_phone",
        "email",
        "source",
        "updated_at",
    )
    list_filter = ("source", "gender", "prefecture", "country")
    search_fields = ("=external_id", "name", "name_kana", "=phone", "=mobile_phone", "=email")
    readonly_fields = ("created_at", "updated_at")
    show_full_result_count = False  # a COUNT(*) over a million customers per page view is waste

    def get_search_results(self, request, queryset, search_term):
        """Also a phone number or e-mail address as people write it (see customer_search_q)."""
        results, duplicates = super().get_search_results(request, queryset, search_term)
        if search_term.strip():
            results = results | queryset.filter(customer_search_q(search_term))
        return results, duplicates

    actions = ("add_to_do_not_contact",)

    @admin.action(description=_("Add selected customers to the do-not-contact list"))
    def add_to_do_not_contact(self, request, queryset):
        from outreach.outcomes import customer_do_not_contact_add

        form, page = action_form_step(
            self,
            request,
            queryset,
            form_class=DoNotContactForm,
            action="add_to_do_not_contact",
            title=gettext("Add to the do-not-contact list"),
            intro=gettext(
                "No campaign will contact these customers again on any channel; their open "
                "campaign memberships are closed now, claims included."
            ),
            submit_label=gettext("Add to the do-not-contact list"),
        )
        if page is not None:
            return page
        source = gettext("admin by %(user)s") % {"user": request.user.get_username()}
        added = closed = 0
        for customer in queryset.order_by("pk").iterator(chunk_size=500):
            result = customer_do_not_contact_add(
                customer=customer,
                reason=form.cleaned_data["reason"],
                source=source,
                by=request.user,
            )
            added += result.created
            closed += result.members_closed
        self.message_user(
            request,
            ngettext(
                "%(count)d customer added to the do-not-contact list",
                "%(count)d customers added to the do-not-contact list",
                added,
            )
            % {"count": added}
            + "; "
            + ngettext(
                "%(count)d open membership closed.",
                "%(count)d open memberships closed.",
                closed,
            )
            % {"count": closed},
            level=messages.SUCCESS,
        )
        return None


class DoNotContactForm(forms.Form):
    reason = forms.ChoiceField(
        label=_("Reason"),
        choices=DoNotContact.Reason.choices,
        initial=DoNotContact.Reason.CUSTOMER_REQUEST,
    )


@admin.register(Purchase)
class PurchaseAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "customer",
        "purchased_at",
        "product_name",
        "category",
        "quantity",
        "amount",
        "currency",
        "order_id",
    )
    list_filter = ("source", "category", "currency")
    search_fields = (
        "=order_id",
        "=line_key",
        "product_name",
        "=product_code",
        "=customer__external_id",
    )
    raw_id_fields = ("customer",)
    date_hierarchy = "purchased_at"
    show_full_result_count = False


@admin.register(ConsentRecord)
class ConsentRecordAdmin(admin.ModelAdmin):
    list_display = ("customer", "channel", "status", "source", "recorded_at")
    list_filter = ("channel", "status")
    search_fields = ("=customer__external_id", "source")
    raw_id_fields = ("customer",)


@admin.register(DoNotContact)
class DoNotContactAdmin(admin.ModelAdmin):
    list_display = ("scope", "customer", "phone", "email", "reason", "source", "created_at")
    list_filter = ("scope", "reason")
    search_fields = ("=customer__external_id", "=phone", "=email")
    raw_id_fields = ("customer",)


@admin.register(ProductRefusal)
class ProductRefusalAdmin(admin.ModelAdmin):
    list_display = ("customer", "product", "refused_at", "source")
    search_fields = ("=customer__external_id", "product")
    raw_id_fields = ("customer",)


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "original_name",
        "state",
        "dry_run",
        "rows_total",
        "created_count",
        "updated_count",
        "unchanged_count",
        "error_count",
        "created_by",
        "created_at",
    )
    list_filter = ("kind", "state", "dry_run")
    search_fields = ("original_name",)
    readonly_fields = [f.name for f in ImportJob._meta.fields]


@admin.register(ImportRowError)
class ImportRowErrorAdmin(admin.ModelAdmin):
    list_display = ("job", "row_number", "column", "value", "code", "message")
    list_filter = ("code",)
    raw_id_fields = ("job",)


@admin.register(ImportTemplate)
class ImportTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "created_by", "created_at")
    list_filter = ("kind",)


from customers.segmentation.conditions import describe_conditions, validate_conditions  # noqa: E402
from customers.services.segments import resegment_after_rule_change  # noqa: E402

admin.site.site_header = _("Retention outreach")
admin.site.site_title = _("Retention outreach")


class SegmentAdminForm(forms.ModelForm):
    class Meta:
        model = Segment
        fields = [
            "key",
            "name",
            "name_ja",
            "description",
            "position",
            "conditions",
            "is_active",
            "color",
        ]

    def clean_conditions(self):
        conditions = self.cleaned_data["conditions"] or {}
        validate_conditions(conditions)  # specific messages for a wrong field, operator or value
        return conditions


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentAdminForm
    list_display = ("position", "name", "name_ja", "key", "is_active", "rule")
    list_display_links = ("name",)
    list_editable = ("position", "is_active")
    ordering = ("position", "id")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        resegment_after_rule_change()

    @admin.display(description=_("rule"))
    def rule(self, segment):
        return describe_conditions(segment.conditions)


@admin.register(RfmSettings)
class RfmSettingsAdmin(admin.ModelAdmin):
    list_display = (
        "method",
        "lookback_days",
        "recency_cutoffs",
        "frequency_cutoffs",
        "monetary_cutoffs",
        "updated_at",
    )

    def has_add_permission(self, request):
        return not RfmSettings.objects.exists()


@admin.register(SegmentationRun)
class SegmentationRunAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "cause",
        "reference_date",
        "method",
        "customers_scored",
        "customers_moved",
        "started_at",
        "finished_at",
    )
    list_filter = ("cause", "method")
    readonly_fields = [f.name for f in SegmentationRun._meta.fields]


@admin.register(CustomerRfm)
class CustomerRfmAdmin(admin.ModelAdmin):
    list_display = (
        "customer",
        "segment",
        "r",
        "f",
        "m",
        "recency_days",
        "frequency",
        "monetary",
        "reference_date",
    )
    list_filter = ("segment", "r", "f", "m")
    search_fields = ("=customer__external_id",)
    raw_id_fields = ("customer", "run")
    show_full_result_count = False
    readonly_fields = [f.name for f in CustomerRfm._meta.fields]


@admin.register(SegmentTransition)
class SegmentTransitionAdmin(admin.ModelAdmin):
    list_display = ("customer", "from_segment", "to_segment", "cause", "run", "created_at")
    list_filter = ("cause", "to_segment", "from_segment")
    search_fields = ("=customer__external_id",)
    raw_id_fields = ("customer", "run")
    show_full_result_count = False


@admin.register(LtvSettings)
class LtvSettingsAdmin(admin.ModelAdmin):
    """One row: the LTV formula the customer card shows and the formulas' parameters."""

    list_display = (
        "chosen_formula",
        "gross_margin_percent",
        "years_retained",
        "acquisition_cost",
        "retention_cost",
        "updated_at",
    )
    readonly_fields = ("updated_at",)

    def has_add_permission(self, request):
        return not LtvSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CategoryAffinity)
class CategoryAffinityAdmin(ReadOnlyAdmin):
    """Read-only: rebuilt from purchases by customers.services.affinity (nightly, after imports)."""

    deletable = False

    list_display = (
        "category",
        "other_category",
        "customers_both",
        "customers_category",
        "confidence",
        "lift",
        "computed_at",
    )
    search_fields = ("=category", "=other_category")
    ordering = ("category", "-confidence")


@admin.register(KpiSnapshot)
class KpiSnapshotAdmin(ReadOnlyAdmin):
    """Read-only: rebuilt set-based by customers.kpis."""

    list_display = (
        "period",
        "period_start",
        "segment",
        "is_complete",
        "customers_at_start",
        "retained",
        "lost",
        "dormant_at_start",
        "reactivated",
        "nps_responses",
        "computed_at",
    )
    list_filter = ("period", "is_complete", "segment")
    list_select_related = ("segment",)
    date_hierarchy = "period_start"
    ordering = ("-period_start", "period", "segment__position")
