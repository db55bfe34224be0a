"""Generate realistic Japanese demo data, import it through the real import pipeline, create logins."""

import tempfile
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files import File
from django.core.management.base import BaseCommand

from config.roles import ADMIN, AGENT, SUPERVISOR
from customers.demo_data import generate
from customers.models import ImportJob, ImportKind, ImportState
from customers.services.imports import import_job_configure, import_job_create, import_job_start
from outreach.demo import demo_outreach_setup
from outreach.services import roles_ensure

DEMO_SOURCE = "demo"
DEMO_USERS = (
    ("supervisor", "demo-supervisor-pass", SUPERVISOR),
    ("agent", "demo-agent-pass", AGENT),
    ("agent2", "demo-agent2-pass", AGENT),
    ("admin", "demo-admin-pass", ADMIN),
)


class Command(BaseCommand):
    help = "Load demo customers and purchases through the import pipeline and create demo logins."

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=3000)
        parser.add_argument("--purchases", type=int, default=30000)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--force", action="store_true", help="Import again even if loaded before."
        )

    def handle(self, *args, customers: int, purchases: int, seed: int, force: bool, **options):
        roles_ensure()
        supervisor = self._users()
        already = ImportJob.objects.filter(
            source=DEMO_SOURCE,
            state=ImportState.SUCCEEDED,
            dry_run=False,
            kind=ImportKind.PURCHASES,
        ).exists()
        if already and not force:
            self.stdout.write("Demo data already imported (use --force to import again).")
        else:
            with tempfile.TemporaryDirectory() as folder:
                files = generate(
                    Path(folder), customers=customers, purchases=purchases, seed=seed, dirty=True
                )
                for kind, path in (
                    (ImportKind.CUSTOMERS, files.customers),
                    (ImportKind.PURCHASES, files.purchases),
                ):
                    self._import(kind, path, supervisor)
        agents = list(get_user_model().objects.filter(groups__name=AGENT).order_by("username"))
        self.stdout.write(demo_outreach_setup(supervisor=supervisor, agents=agents))
        self._print_logins()

    def _users(self):
        user_model = get_user_model()
        users = {}
        for username, password, role in DEMO_USERS:
            user, created = user_model.objects.get_or_create(username=username)
            if created:
                user.set_password(password)
                user.is_staff = role in (SUPERVISOR, ADMIN)
                user.is_superuser = role == ADMIN
                user.save()
            user.groups.add(Group.objects.get(name=role))
            users[role] = user
        return users[SUPERVISOR]

    def _import(self, kind: str, path: Path, supervisor) -> None:
        with path.open("rb") as handle:
            job = import_job_create(
                kind=kind,
                file=File(handle, name=path.name),
                created_by=supervisor,
                source=DEMO_SOURCE,
            )
        match_by = ["external_id", "phone", "email"] if kind == ImportKind.CUSTOMERS else []
        job = import_job_configure(job=job, mapping=job.mapping, match_by=match_by)
        import_job_start(job=job)
        job.refresh_from_db()
        self.stdout.write(
            f"{job.get_kind_display()}: {job.state} — rows {job.rows_total}, created {job.created_count}, "
            f"updated {job.updated_count}, unchanged {job.unchanged_count}, errors {job.error_count} "
            f"({job.timings.get('total', '?')} s)"
        )

    def _print_logins(self) -> None:
        self.stdout.write(self.style.SUCCESS("\nDemo logins (http://127.0.0.1:8000/):"))
        for username, password, role in DEMO_USERS:
            self.stdout.write(f"  {role:<11} {username:<11} {password}")
