"""Audit.verdict holds "inconclusive" (an audit in which a check could assess nothing)."""
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("audits", "0006_dataset_warnings")]

    operations = [
        migrations.AlterField(
            model_name="audit",
            name="verdict",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
    ]
