from django.db import migrations


def seed(apps, schema_editor):
    from outreach.dispositions import dispositions_ensure_defaults

    dispositions_ensure_defaults(apps.get_model("outreach", "Disposition"))


class Migration(migrations.Migration):
    dependencies = [("outreach", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
