"""An index holding what visibility and the browse facets read of a version (Postgres covers the
rest with INCLUDE), so they scan it instead of the rows with their READMEs."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0011_artifact_search_document"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="version",
            index=models.Index(
                fields=["artifact"],
                include=("state", "license", "architecture", "parameters", "review_parent"),
                name="version_facets",
            ),
        ),
    ]
