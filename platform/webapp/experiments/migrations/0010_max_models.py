from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("experiments", "0009_fairness")]

    operations = [
        migrations.AddField(
            model_name="experiment",
            name="max_models",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
    ]
