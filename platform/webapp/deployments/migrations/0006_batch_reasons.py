from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("deployments", "0005_sent")]

    operations = [
        migrations.AddField(
            model_name="batch",
            name="reasons",
            field=models.BooleanField(default=False),
        ),
    ]
