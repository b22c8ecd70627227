"""Migration operations of our own (the leading underscore keeps Django's loader from taking this
module for a migration)."""

from django.contrib.postgres.operations import (
    AddIndexConcurrently,
    NotInTransactionMixin,
    RemoveIndexConcurrently,
)
from django.db.migrations.operations import AddConstraint, AddIndex, RemoveIndex


class WithoutBlockingWrites:
    """On PostgreSQL, the CONCURRENTLY form of the operation: the table takes writes while the
    index is built or dropped. A plain CREATE INDEX holds off every INSERT into the table until
    it has read all of it, and on the submissions table every INSERT is a webhook. Elsewhere
    (SQLite) the plain operation, `plain`.

    The migration must say `atomic = False` (squashmigrations does not carry it over: set it on
    the squashed migration; tests/project/test_migrations_current.py checks). A concurrent build
    that fails leaves an invalid index behind: drop it (`DROP INDEX CONCURRENTLY name`) and
    migrate again."""

    plain: type

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            self.plain.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            self.plain.database_backwards(self, app_label, schema_editor, from_state, to_state)


class AddUniqueConstraintConcurrently(NotInTransactionMixin, AddConstraint):
    """A conditional UniqueConstraint (which PostgreSQL keeps as a unique partial index) built
    with CREATE UNIQUE INDEX CONCURRENTLY. Django has no such operation of its own."""

    atomic = False

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._ensure_not_in_transaction(schema_editor)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            statement = self.constraint.create_sql(model, schema_editor)
            if not statement.template.startswith("CREATE UNIQUE INDEX "):
                raise ValueError(f"{self.constraint.name} is not built as a unique index")
            statement.template = statement.template.replace(
                "CREATE UNIQUE INDEX ", "CREATE UNIQUE INDEX CONCURRENTLY ", 1
            )
            schema_editor.execute(statement, params=None)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self._ensure_not_in_transaction(schema_editor)
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            name = schema_editor.quote_name(self.constraint.name)
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class AddIndexWithoutBlockingWrites(WithoutBlockingWrites, AddIndexConcurrently):
    plain = AddIndex


class RemoveIndexWithoutBlockingWrites(WithoutBlockingWrites, RemoveIndexConcurrently):
    plain = RemoveIndex


class AddUniqueConstraintWithoutBlockingWrites(
    WithoutBlockingWrites, AddUniqueConstraintConcurrently
):
    plain = AddConstraint
