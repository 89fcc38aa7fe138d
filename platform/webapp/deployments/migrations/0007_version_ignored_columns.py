from django.db import migrations, models


def columns_left_out(apps, schema_editor):
    """The training table's columns each version's model does not use, from its dataset."""
    Version = apps.get_model("deployments", "Version")
    for version in Version.objects.select_related("candidate__experiment__dataset"):
        profile = version.candidate.experiment.dataset.profile or {}
        used = {column["name"] for column in version.schema}
        version.ignored_columns = [
            column["name"] for column in profile.get("columns", []) if column["name"] not in used
        ]
        version.save(update_fields=["ignored_columns"])


class Migration(migrations.Migration):
    dependencies = [("deployments", "0006_batch_reasons")]

    operations = [
        migrations.AddField(
            model_name="version",
            name="ignored_columns",
            field=models.JSONField(default=list),
        ),
        migrations.RunPython(columns_left_out, migrations.RunPython.noop),
    ]
