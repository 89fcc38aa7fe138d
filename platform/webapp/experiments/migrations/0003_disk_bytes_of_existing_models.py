from pathlib import Path

from django.conf import settings
from django.db import migrations

from webapp.lib.files import size_on_disk


def measure(apps, schema_editor):
    Candidate = apps.get_model("experiments", "Candidate")
    for candidate in Candidate.objects.select_related("experiment").exclude(artifact="none"):
        models = Path(settings.MEDIA_ROOT) / "experiments" / str(candidate.experiment.key)
        model = models / "models" / candidate.model_id
        size = size_on_disk(model) + size_on_disk(model.with_suffix(".zip"))
        Candidate.objects.filter(pk=candidate.pk).update(disk_bytes=size)


class Migration(migrations.Migration):
    dependencies = [("experiments", "0002_disk_bytes")]

    operations = [migrations.RunPython(measure, migrations.RunPython.noop)]
