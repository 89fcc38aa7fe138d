from django.db import migrations


def create_lock(apps, schema_editor):
    apps.get_model("accounts", "FirstAccount").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_team")]

    operations = [migrations.RunPython(create_lock, migrations.RunPython.noop)]
