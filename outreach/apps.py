from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class OutreachConfig(AppConfig):
    name = "outreach"
    verbose_name = _("Outreach")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from outreach.dispositions import dispositions_ensure_after_migrate
        from outreach.launch import sqlite_md5
        from outreach.services import roles_ensure_after_migrate

        post_migrate.connect(roles_ensure_after_migrate, dispatch_uid="outreach.roles")
        post_migrate.connect(
            dispositions_ensure_after_migrate, dispatch_uid="outreach.dispositions"
        )
        connection_created.connect(sqlite_md5, dispatch_uid="outreach.sqlite_md5")
