from django.db import migrations, models


def create_study_tables(apps, schema_editor):
    from webapp.experiments.studies import create_tables

    create_tables()


class Migration(migrations.Migration):
    dependencies = [("experiments", "0004_queue_priority")]

    operations = [
        migrations.AddField(
            model_name="experiment",
            name="parallelism",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="candidate",
            name="worker",
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.RunPython(create_study_tables, migrations.RunPython.noop),
    ]
