"""Versions deployed before key scopes showed a real row of the training data as their
example, and every category: made again from the training profile, as new versions are."""

from django.conf import settings
from django.db import migrations

from webapp.deployments.schema import column
from webapp.lib.files import size_on_disk


def public_schemas(apps, schema_editor):
    Version = apps.get_model("deployments", "Version")
    for version in Version.objects.select_related("candidate__experiment__dataset"):
        profile = version.candidate.experiment.dataset.profile or {}
        profiles = {c["name"]: c for c in profile.get("columns", [])}
        version.schema = [
            column(c, profiles.get(c["name"]), required=c.get("required", False))
            for c in version.schema
        ]
        version.save(update_fields=["schema"])


def measure(apps, schema_editor):
    Batch = apps.get_model("deployments", "Batch")
    for batch in Batch.objects.all():
        size = size_on_disk(settings.DATA_DIR / "batches" / str(batch.key))
        Batch.objects.filter(pk=batch.pk).update(disk_bytes=size)


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0003_key_scopes_and_batch_jobs"),
        ("datasets", "0004_disk_bytes_of_existing_files"),
    ]

    operations = [
        migrations.RunPython(public_schemas, migrations.RunPython.noop),
        migrations.RunPython(measure, migrations.RunPython.noop),
    ]
