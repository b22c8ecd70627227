"""Migration operations of our own (the leading underscore keeps Django's loader from taking this
module for a migration)."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db.migrations.operations import AddIndex


class AddIndexWithoutBlockingWrites(AddIndexConcurrently):
    """On PostgreSQL, CREATE INDEX CONCURRENTLY: the table takes writes while the index is built.
    A plain CREATE INDEX holds off every INSERT into the table until it has read all of it, and
    on the submissions table every INSERT is a webhook. Elsewhere (SQLite) a plain CREATE INDEX.

    The migration must say `atomic = False` (squashmigrations does not carry it over: set it on
    the squashed migration; tests/project/test_migrations_current.py checks). A concurrent build
    that fails leaves an invalid index behind: drop it (`DROP INDEX CONCURRENTLY name`) and
    migrate again."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)
