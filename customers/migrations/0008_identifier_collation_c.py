"""Identifier columns compare bytewise ("C" collation) on PostgreSQL.

External ids, sources, purchase line keys, E.164 phone numbers and normalised e-mail addresses
are matched for equality (imports, do-not-contact checks, joins) and never sorted for people.
Under the database's libc collation (C.UTF-8 here) PostgreSQL compares text with strcoll and
cannot use abbreviated keys, which makes building and probing their btree indexes markedly
slower (the indexes of a million customers are rebuilt after every first load). Under "C" the
order is the bytes' order, which for UTF-8 is the code point order C.UTF-8 sorts by anyway.

Both sides of each join (customer phone / e-mail against the do-not-contact list's) get the
same collation, so each side's index stays usable for the other's values.

Django's ``db_collation`` would put this in the model state, but it is PostgreSQL syntax and the
embedded database is SQLite, so the columns are altered here on PostgreSQL only and the model
state does not change. Note: a later AlterField that changes one of these columns' type (e.g.
max_length) re-types it without COLLATE, which resets it to the default collation; re-apply it
in that migration (tests/customers/test_identifier_collation.py catches a column that lost it).
"""

from django.db import migrations

# (model name, columns) whose values are identifiers compared byte for byte.
IDENTIFIER_COLUMNS = {
    "customer": ("source", "external_id", "email", "phone", "mobile_phone"),
    "purchase": ("source", "line_key"),
    "donotcontact": ("phone", "email"),
}


def _alter(apps, schema_editor, collation: str | None) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for model_name, columns in IDENTIFIER_COLUMNS.items():
        model = apps.get_model("customers", model_name)
        changes = []
        for column in columns:
            field = model._meta.get_field(column)
            collate = f" COLLATE {quote(collation)}" if collation else ""
            changes.append(
                f"ALTER COLUMN {quote(field.column)} TYPE {field.db_type(connection)}{collate}"
            )
        # One statement per table: its indexes on these columns are rebuilt once.
        schema_editor.execute(f"ALTER TABLE {quote(model._meta.db_table)} {', '.join(changes)}")


def to_c(apps, schema_editor) -> None:
    _alter(apps, schema_editor, "C")


def to_default(apps, schema_editor) -> None:
    _alter(apps, schema_editor, None)


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0007_kpi_snapshot"),
    ]

    operations = [migrations.RunPython(to_c, to_default)]
