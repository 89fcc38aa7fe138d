from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("experiments", "0008_keep_checks_importance")]

    operations = [
        migrations.AddField(
            model_name="candidate",
            name="fairness",
            field=models.JSONField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="candidate",
            name="fairness_since",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
