from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from customers.segmentation.defaults import segments_ensure_after_migrate

        # Test databases are flushed between transactional tests; bring the defaults back.
        post_migrate.connect(segments_ensure_after_migrate, dispatch_uid="customers.segments")
