from django.db import migrations, models


def warnings_to_checks(apps, schema_editor):
    """Profiles stored before checks held ``warnings``: the same findings, as checks."""
    Dataset = apps.get_model("datasets", "Dataset")
    for dataset in Dataset.objects.exclude(profile=None).iterator():
        for field in ("profile", "target_profile"):
            stored = getattr(dataset, field)
            if stored and "warnings" in stored:
                stored["checks"] = [
                    {"id": w["code"], "status": "info", "title": w["code"].replace("_", " "),
                     "message": w["message"], "columns": w.get("columns", []), "action": "",
                     "details": {}}
                    for w in stored.pop("warnings")
                ]  # fmt: skip
        dataset.save(update_fields=["profile", "target_profile"])


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0005_sent"),
    ]

    operations = [
        migrations.AddField(
            model_name="dataset",
            name="keep",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.RunPython(warnings_to_checks, migrations.RunPython.noop),
    ]
