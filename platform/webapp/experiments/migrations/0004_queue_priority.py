from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("experiments", "0003_disk_bytes_of_existing_models")]

    operations = [
        migrations.AddField(
            model_name="experiment",
            name="priority",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="experiment",
            name="queued",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
