from django.db import migrations


def create_head(apps, schema_editor):
    apps.get_model("audit", "AuditChainHead").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    """The chain head exists before the first event, so appending never races to create it."""

    dependencies = [("audit", "0002_initial")]
    operations = [migrations.RunPython(create_head, migrations.RunPython.noop)]
