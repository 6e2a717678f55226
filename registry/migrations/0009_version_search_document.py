"""A version's full-text document (README and the values of its declared metadata), kept by Postgres
in a generated column with a GIN index, so a search reads stored vectors instead of parsing every
README. registry.search queries the column by name (the model does not declare it). Postgres only:
the embedded SQLite searches by substring and needs neither."""

from django.db import migrations

DOCUMENT = (
    "setweight(to_tsvector('english'::regconfig, COALESCE(readme, '')), 'C') || "
    "setweight(jsonb_to_tsvector('english'::regconfig, metadata, '[\"string\", \"numeric\"]'), 'C')"
)


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"ALTER TABLE registry_version ADD COLUMN search_document tsvector GENERATED ALWAYS AS ({DOCUMENT}) STORED"
        )
        schema_editor.execute("CREATE INDEX version_search ON registry_version USING gin (search_document)")


def drop(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE registry_version DROP COLUMN search_document")


class Migration(migrations.Migration):
    dependencies = [
        ("registry", "0008_invitations"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
