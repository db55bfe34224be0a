from django.db import migrations


def update(apps, schema_editor):
    disposition = apps.get_model("outreach", "Disposition")
    # One e-mail per member and campaign; an unsubscribe does not count toward the frequency cap.
    disposition.objects.filter(code="email_sent").update(final_for_campaign=True)
    disposition.objects.filter(code="unsubscribed").update(counts_as_attempt=False)


class Migration(migrations.Migration):
    dependencies = [("outreach", "0004_card_view_audit")]
    operations = [migrations.RunPython(update, migrations.RunPython.noop)]
