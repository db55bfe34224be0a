from django.db import migrations


def seed(apps, schema_editor):
    from customers.segmentation.defaults import DEFAULT_SEGMENTS

    Segment = apps.get_model("customers", "Segment")
    RfmSettings = apps.get_model("customers", "RfmSettings")
    for position, data in enumerate(DEFAULT_SEGMENTS, start=1):
        Segment.objects.get_or_create(key=data["key"], defaults={**data, "position": position * 10})
    if not RfmSettings.objects.exists():
        RfmSettings.objects.create()


class Migration(migrations.Migration):
    dependencies = [("customers", "0002_segmentation")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
