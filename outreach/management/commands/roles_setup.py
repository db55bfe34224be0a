from django.core.management.base import BaseCommand

from outreach.services import roles_ensure


class Command(BaseCommand):
    help = "Create or refresh the agent / supervisor / admin groups and their permissions (also runs after every migrate)."

    def handle(self, *args, **options):
        for role, count in roles_ensure().items():
            self.stdout.write(f"{role}: {count} permissions")
