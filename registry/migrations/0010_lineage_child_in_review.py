"""LineageEdge.child_in_review: whether the edge's child is in review, kept by `Version.transition`
on the child's own edges, so the reviewers' visibility clause reads a small partial index instead
of joining every edge to its child's state. Filled here for the children already in review."""

from django.db import migrations, models


def fill(apps, schema_editor):  # type: ignore[no-untyped-def]
    LineageEdge = apps.get_model("registry", "LineageEdge")
    LineageEdge.objects.filter(child__state="in_review").update(child_in_review=True)


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0009_version_search_document"),
    ]

    operations = [
        migrations.AddField(
            model_name="lineageedge",
            name="child_in_review",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="lineageedge",
            index=models.Index(
                condition=models.Q(("child_in_review", True)), fields=["parent"], name="lineage_awaited"
            ),
        ),
    ]
