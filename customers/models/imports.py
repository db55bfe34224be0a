"""Import jobs: one uploaded file, its column mapping, its progress, counts and rejected rows."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class ImportKind(models.TextChoices):
    CUSTOMERS = "customers", _("Customers")
    PURCHASES = "purchases", _("Purchases")


class ImportState(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded (mapping not confirmed)")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


ACTIVE_STATES = (ImportState.QUEUED, ImportState.RUNNING)


class MatchField(models.TextChoices):
    EXTERNAL_ID = "external_id", _("Customer id")
    PHONE = "phone", _("Phone number")
    EMAIL = "email", _("E-mail")


class ImportTemplate(models.Model):
    """A named, reusable column mapping (header in the file -> field)."""

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=16, choices=ImportKind.choices)
    mapping = models.JSONField(_("mapping"), default=dict)
    match_by = models.JSONField(_("match by"), default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("import template")
        verbose_name_plural = _("import templates")
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="import_template_unique_name"),
        ]
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name


class ImportJob(models.Model):
    """One file imported (or dry-run) into customers or purchases.

    Counts always reconcile once the job has succeeded:
    ``created + updated + unchanged + errors == rows_total``.
    """

    kind = models.CharField(_("kind"), max_length=16, choices=ImportKind.choices)
    state = models.CharField(
        _("state"), max_length=16, choices=ImportState.choices, default=ImportState.UPLOADED
    )
    phase = models.CharField(_("phase"), max_length=16, blank=True)
    dry_run = models.BooleanField(_("dry run"), default=False)
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=255)
    file_size = models.BigIntegerField(_("file size"), default=0)
    file_format = models.CharField(_("format"), max_length=8, blank=True)
    encoding = models.CharField(_("encoding"), max_length=32, blank=True)
    delimiter = models.CharField(_("delimiter"), max_length=4, blank=True)
    headers = models.JSONField(_("headers"), default=list, blank=True)
    mapping = models.JSONField(_("mapping"), default=dict, blank=True)
    match_by = models.JSONField(_("match by"), default=list, blank=True)
    source = models.CharField(_("source"), max_length=64, default="default")
    template = models.ForeignKey(
        ImportTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    duplicate_rows = models.BigIntegerField(
        _("repeated rows"),
        default=0,
        help_text=_("Rows that repeat a customer or order line seen earlier in the same file."),
    )
    rows_total = models.BigIntegerField(_("rows in file"), null=True, blank=True)
    rows_processed = models.BigIntegerField(_("rows processed"), default=0)
    created_count = models.BigIntegerField(pgettext_lazy("import count", "created"), default=0)
    updated_count = models.BigIntegerField(pgettext_lazy("import count", "updated"), default=0)
    unchanged_count = models.BigIntegerField(pgettext_lazy("import count", "unchanged"), default=0)
    error_count = models.BigIntegerField(pgettext_lazy("import count", "errors"), default=0)
    preview = models.JSONField(_("preview"), default=list, blank=True)
    timings = models.JSONField(_("timings (seconds)"), default=dict, blank=True)
    failure = models.TextField(_("failure"), blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="import_jobs"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    queued_at = models.DateTimeField(_("queued"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last progress"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["heartbeat_at"],
                name="import_active_heartbeat_idx",
                condition=Q(state__in=["queued", "running"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.original_name}"

    @property
    def progress_percent(self) -> int:
        if self.state == ImportState.SUCCEEDED:
            return 100
        if not self.rows_total:
            return 0
        return min(100, int(self.rows_processed * 100 / self.rows_total))

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def counts_reconcile(self) -> bool:
        done = self.created_count + self.updated_count + self.unchanged_count + self.error_count
        return self.rows_total is not None and done == self.rows_total


class ImportRowError(models.Model):
    """A rejected row (or one rejected value): which row, which column, what value, why."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row_number = models.BigIntegerField(_("row"))
    column = models.CharField(_("column"), max_length=255, blank=True)
    value = models.TextField(_("value"), blank=True)
    code = models.CharField(_("code"), max_length=40)
    message = models.TextField(_("reason"))

    class Meta:
        verbose_name = _("import error")
        verbose_name_plural = _("import errors")
        ordering = ["job", "row_number", "id"]
        indexes = [models.Index(fields=["job", "row_number"], name="import_error_job_row_idx")]

    def __str__(self) -> str:
        return f"row {self.row_number}: {self.reason}"

    @property
    def reason(self) -> str:
        """The reason in the reader's language (the stored message is the worker's language)."""
        from customers.importing.records import known_error_message

        return known_error_message(self.code) or self.message
