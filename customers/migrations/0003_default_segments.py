from django.db import migrations


def seed(apps, schema_editor):
    from customers.segmentation.defaults import DEFAULT_SEGMENTS

    Segment = apps.get_model("customers", "Segment")
    RfmSettings = apps.get_model("customers", "RfmSettings")
    known = {field.name for field in Segment._meta.get_fields()}
    for position, data in enumerate(DEFAULT_SEGMENTS, start=1):
        # Later fields (lifecycle, 0005) are set by the migration that adds them.
        defaults = {k: v for k, v in data.items() if k in known}
        Segment.objects.get_or_create(key=data["key"], defaults={**defaults, "position": position * 10})
    if not RfmSettings.objects.exists():
        RfmSettings.objects.create()


class Migration(migrations.Migration):
    dependencies = [("customers", "0002_segmentation")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
