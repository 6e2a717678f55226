"""Stored full-text documents for artifacts (slug weighted A, description B) and organizations (slug
and name, A), kept by Postgres in generated columns, so a search matches and ranks artifacts
without parsing every description again (registry.search reads them by name; the models do not
declare them). An artifact matches on its document joined with its org's, which no index serves,
so there is none: it is a fast scan of stored vectors. Postgres only: the embedded SQLite searches
by substring and needs neither."""

from django.db import migrations

DOCUMENTS = {
    "registry_artifact": (
        "setweight(to_tsvector('english'::regconfig, COALESCE(slug, '')), 'A') || "
        "setweight(to_tsvector('english'::regconfig, COALESCE(description, '')), 'B')"
    ),
    "registry_organization": (
        "setweight(to_tsvector('english'::regconfig, COALESCE(slug, '') || ' ' || COALESCE(name, '')), 'A')"
    ),
}


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        for table, document in DOCUMENTS.items():
            schema_editor.execute(
                f"ALTER TABLE {table} ADD COLUMN search_document tsvector GENERATED ALWAYS AS ({document}) STORED"
            )


def drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        for table in DOCUMENTS:
            schema_editor.execute(f"ALTER TABLE {table} DROP COLUMN search_document")


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0010_lineage_child_in_review"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
