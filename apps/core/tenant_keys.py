"""Migration operation that gives a tenant-owned table its composite keys.

Why: a distributed PostgreSQL (Citus) needs the distribution column in every
primary key and unique constraint, and co-located foreign keys. Django's ORM
keeps addressing rows by ``id``; the database enforces ``(organization_id, id)``.
Each tenant-owned model's migration runs ``TenantKeys("model")`` right after
creating the table; tests/test_tenant_schema.py checks the catalog so a model
that forgets it fails the suite.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState


def _composite_foreign_keys(model: type[models.Model]) -> list[tuple[str, str]]:
    """(column, referenced table) for every constraint-less FK to another tenant model."""
    found = []
    for field in model._meta.fields:
        if not isinstance(field, models.ForeignKey) or getattr(field, "db_constraint", True):
            continue
        if field.name == "organization":
            continue
        target = field.related_model
        if isinstance(target, str):
            continue
        if any(f.name == "organization" for f in target._meta.fields):
            found.append((field.column, target._meta.db_table))
    return found


class TenantKeys(Operation):
    reversible = True
    reduces_to_sql = True

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__name__, [self.model_name], {})

    def state_forwards(self, app_label: str, state: ProjectState) -> None:
        """The keys live only in the database; Django's model state is unchanged."""

    def database_forwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        table = model._meta.db_table
        q = schema_editor.quote_name
        schema_editor.execute(f"ALTER TABLE {q(table)} DROP CONSTRAINT {q(table + '_pkey')}")
        schema_editor.execute(
            f"ALTER TABLE {q(table)} ADD CONSTRAINT {q(table + '_pkey')} PRIMARY KEY (organization_id, id)"
        )
        for column, target in _composite_foreign_keys(model):
            name = f"{table}_{column}_tenant_fk"[:63]
            schema_editor.execute(
                f"CREATE INDEX {q(name.replace('_fk', '_ix'))} ON {q(table)} (organization_id, {q(column)})"
            )
            schema_editor.execute(
                f"ALTER TABLE {q(table)} ADD CONSTRAINT {q(name)} FOREIGN KEY (organization_id, {q(column)}) "
                f"REFERENCES {q(target)} (organization_id, id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED"
            )

    def database_backwards(
        self, app_label: str, schema_editor: BaseDatabaseSchemaEditor, from_state: ProjectState, to_state: ProjectState
    ) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        table = model._meta.db_table
        q = schema_editor.quote_name
        for column, _target in _composite_foreign_keys(model):
            name = f"{table}_{column}_tenant_fk"[:63]
            schema_editor.execute(f"ALTER TABLE {q(table)} DROP CONSTRAINT {q(name)}")
            schema_editor.execute(f"DROP INDEX {q(name.replace('_fk', '_ix'))}")
        schema_editor.execute(f"ALTER TABLE {q(table)} DROP CONSTRAINT {q(table + '_pkey')}")
        schema_editor.execute(f"ALTER TABLE {q(table)} ADD CONSTRAINT {q(table + '_pkey')} PRIMARY KEY (id)")

    def describe(self) -> str:
        return f"Composite tenant keys for {self.model_name}"
