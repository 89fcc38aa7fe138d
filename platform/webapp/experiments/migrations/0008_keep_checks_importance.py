from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("experiments", "0007_trained_rows"),
    ]

    operations = [
        migrations.AddField(
            model_name="experiment",
            name="keep",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="experiment",
            name="checks",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="candidate",
            name="importance_since",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
