"""Database helpers shared by the bench scripts.

Importing this module does not touch Django: ``ensure_database`` runs before ``django.setup()``
(it talks to the server with psycopg), the others import ``django.db`` when called.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg


def ensure_database(server: str, name: str) -> None:
    """Create the database ``name`` on ``server`` (a URL without a database) if it is missing,
    connecting to the server's ``postgres`` database to do so."""
    parts = urlsplit(server)
    admin = urlunsplit((parts.scheme, parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def without_secondary_indexes(
    table: str, statement: str, params: dict, *, analyze: bool = True
) -> int:
    """Run a bulk INSERT with the table's secondary indexes and unique / foreign-key constraints
    dropped, then put back exactly the definitions PostgreSQL reports (faster than maintaining
    them row by row); ``ANALYZE`` the table afterwards unless ``analyze`` is false. Returns the
    number of rows the statement wrote."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype IN ('u', 'f')",
            [table],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s AND indexname NOT IN "
            "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)",
            [table, table],
        )
        indexes = cursor.fetchall()
        for name, _definition in constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _definition in indexes:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        cursor.execute(statement, params)
        rows = cursor.rowcount
        for _name, definition in indexes:
            cursor.execute(definition)
        for name, definition in constraints:
            cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        if analyze:
            cursor.execute(f"ANALYZE {table}")
    return rows
