"""The database enforces tenancy: composite keys led by organization_id (see apps.core.tenant_keys)."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import IntegrityError, connection, transaction

from apps.core.models import TenantModel
from apps.tenants.models import IngestKey
from tests.conftest import Tenant
from tests.support import fast_passwords  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def tables_with_organization_id() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.table_name FROM information_schema.columns c "
            "JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE c.table_schema = current_schema() AND c.column_name = 'organization_id' "
            "AND t.table_type = 'BASE TABLE'"
        )
        return {row[0] for row in cursor.fetchall()}


def constraint_columns(table: str, kinds: str) -> list[tuple[str, str, list[str], str | None, list[str]]]:
    """(name, type, columns in key order, referenced table, referenced columns) of the table's constraints."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT con.conname, con.contype,
                   ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(attnum, n)
                         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.n),
                   ref.relname,
                   ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(attnum, n)
                         JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.n)
            FROM pg_constraint con
            JOIN pg_class rel ON rel.oid = con.conrelid
            LEFT JOIN pg_class ref ON ref.oid = con.confrelid
            WHERE rel.relname = %s AND con.contype = ANY(%s)
            """,
            [table, list(kinds)],
        )
        return [(name, kind, list(cols), ref, list(refcols or [])) for name, kind, cols, ref, refcols in cursor]


def unique_indexes(table: str) -> list[tuple[str, list[str | None]]]:
    """Every unique index (also those behind constraints and partial or expression indexes)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT ic.relname,
                   ARRAY(SELECT a.attname FROM unnest(ix.indkey::int2[]) WITH ORDINALITY k(attnum, n)
                         LEFT JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = k.attnum ORDER BY k.n)
            FROM pg_index ix
            JOIN pg_class ic ON ic.oid = ix.indexrelid
            JOIN pg_class rel ON rel.oid = ix.indrelid
            WHERE rel.relname = %s AND ix.indisunique
            """,
            [table],
        )
        return [(name, list(cols)) for name, cols in cursor]


def test_tenant_tables_exist() -> None:
    tables = tables_with_organization_id()
    assert {"tenants_project", "tenants_membership", "audit_auditentry", "accounts_apitoken"} <= tables


def test_primary_keys_lead_with_organization_id() -> None:
    """Model tables get (organization_id, id) (checked below); telemetry tables their own keys led by it."""
    for table in sorted(tables_with_organization_id()):
        primary = [cols for _n, _k, cols, _r, _rc in constraint_columns(table, "p")]
        assert len(primary) == 1, f"{table} has no primary key"
        assert primary[0][0] == "organization_id", f"{table}: primary key {primary}; run TenantKeys"


def test_unique_indexes_include_organization_id() -> None:
    for table in sorted(tables_with_organization_id()):
        for name, cols in unique_indexes(table):
            assert "organization_id" in cols, f"{table}.{name} is unique on {cols} without organization_id"


def test_foreign_keys_between_tenant_tables_include_organization_id() -> None:
    tenant_tables = tables_with_organization_id()
    checked = 0
    for table in sorted(tenant_tables):
        for name, _kind, cols, ref, refcols in constraint_columns(table, "f"):
            if ref in tenant_tables:
                checked += 1
                message = f"{table}.{name} ({cols}) -> {ref} ({refcols}) can point into another organization"
                assert cols[0] == "organization_id", message
                assert refcols[0] == "organization_id", message
    assert checked >= 1  # tenants_ingestkey -> tenants_project at least


def test_every_tenant_model_has_a_composite_primary_key() -> None:
    models = [m for m in apps.get_models() if issubclass(m, TenantModel)]
    assert len(models) >= 5
    for model in models:
        table = model._meta.db_table
        primary = [cols for _n, _k, cols, _r, _rc in constraint_columns(table, "p")]
        assert primary == [["organization_id", "id"]], f"{model.__name__} ({table}): {primary}; run TenantKeys"


@pytest.mark.usefixtures("fast_passwords")
def test_a_row_cannot_point_into_another_organization(alice: Tenant, bob: Tenant) -> None:
    """The composite foreign key in action: an ingest key of Alice's naming Bob's project."""
    with transaction.atomic(), connection.cursor() as cursor:
        IngestKey.objects.for_organization(alice.organization.pk).filter(pk=alice.ingest_key.pk).update(
            project_id=bob.project.pk
        )
        with pytest.raises(IntegrityError):  # the key is deferred: checking it now is what fails
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        transaction.set_rollback(True)
