"""An index holding what visibility and the browse facets read of a version (Postgres covers the
rest with INCLUDE), so they scan it instead of the rows with their READMEs, and find an
artifact's latest version; it leads with the artifact, so the foreign key's own index goes."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0011_artifact_search_document"),
    ]

    operations = [
        migrations.AlterField(
            model_name="version",
            name="artifact",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="versions",
                to="registry.artifact",
            ),
        ),
        migrations.AddIndex(
            model_name="version",
            index=models.Index(
                fields=["artifact", "state_changed_at"],
                include=("id", "state", "license", "architecture", "parameters"),
                name="version_facets",
            ),
        ),
    ]
