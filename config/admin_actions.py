"""Admin pieces shared by the apps' admins: read-only model admins, and actions that ask for a
choice first (an intermediate form)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin import helpers
from django.template.response import TemplateResponse


def action_form_step(
    modeladmin,
    request,
    queryset,
    *,
    form_class: type[forms.Form],
    action: str,
    title: str,
    intro: str,
    submit_label: str,
    form_kwargs: dict | None = None,
):
    """First call (from the changelist): the form page. Second call (``apply`` posted): the
    bound, valid form, or the page again with its errors. Returns ``(form, None)`` when the
    action may run, ``(None, response)`` otherwise."""
    form_kwargs = form_kwargs or {}
    if "apply" in request.POST:
        form = form_class(request.POST, **form_kwargs)
        if form.is_valid():
            return form, None
    else:
        form = form_class(**form_kwargs)
    context = {
        **modeladmin.admin_site.each_context(request),
        "opts": modeladmin.model._meta,
        "title": title,
        "intro": intro,
        "submit_label": submit_label,
        "form": form,
        "action": action,
        "count": queryset.count(),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return None, TemplateResponse(request, "admin/action_form.html", context)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the system writes (snapshots, audits, rebuilt tables): viewable, never added or
    changed here; deleted only if ``deletable``."""

    deletable = True

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.deletable and super().has_delete_permission(request, obj)
