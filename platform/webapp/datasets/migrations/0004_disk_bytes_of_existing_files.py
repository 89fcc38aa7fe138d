from pathlib import Path

from django.conf import settings
from django.db import migrations

from webapp.lib.files import size_on_disk


def measure(apps, schema_editor):
    Dataset = apps.get_model("datasets", "Dataset")
    for dataset in Dataset.objects.all():
        directory = Path(settings.MEDIA_ROOT) / "datasets" / str(dataset.key)
        Dataset.objects.filter(pk=dataset.pk).update(disk_bytes=size_on_disk(directory))


class Migration(migrations.Migration):
    dependencies = [("datasets", "0003_jobs_notes_and_disk")]

    operations = [migrations.RunPython(measure, migrations.RunPython.noop)]
