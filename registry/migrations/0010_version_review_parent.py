"""Version.review_parent: whether a version in review names this one as a lineage parent, kept by
`Version.transition` so the reviewers' visibility clause reads a column instead of joining the
lineage edges on every catalogue query. Filled here for the versions already in review."""

from django.db import migrations, models
from django.db.models import Exists, OuterRef


def fill(apps, schema_editor):  # type: ignore[no-untyped-def]
    Version = apps.get_model("registry", "Version")
    LineageEdge = apps.get_model("registry", "LineageEdge")
    awaited = LineageEdge.objects.filter(parent_id=OuterRef("pk"), child__state="in_review")
    Version.objects.filter(Exists(awaited)).update(review_parent=True)


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0009_version_search_document"),
    ]

    operations = [
        migrations.AddField(
            model_name="version",
            name="review_parent",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
