"""manage.py gdpr: export to a file, delete with and without confirmation, progress bar, clear errors."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from apps.audit.models import AuditEntry
from apps.privacy import services
from apps.privacy.management.commands.gdpr import ProgressBar
from apps.privacy.services import UserTelemetry
from tests.conftest import Tenant
from tests.privacy.data import seed

pytestmark = pytest.mark.django_db(transaction=True)


def gdpr(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("gdpr", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def left(tenant: Tenant, value: str = "u-1") -> UserTelemetry:
    return services.find_user_telemetry(tenant.organization.pk, None, "enduser.id", value)


def test_export_to_a_file_with_progress(alice: Tenant, tmp_path: Path) -> None:
    seed(alice)
    target = tmp_path / "u-1.jsonl"
    out, err = gdpr("export", "--org", "alice", "--key", "enduser.id", "--value", "u-1", "--output", str(target))
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert len(lines) == 18
    assert out == ""
    assert "\rexporting [" in err
    assert "100%  18/18" in err
    assert "Exported 10 spans, 4 log records, 1 metric series (3 points) of enduser.id in alice (all projects)" in err
    entry = AuditEntry.objects.for_organization(alice.organization.pk).get(action="privacy.exported")
    assert entry.actor_label == "manage.py gdpr"


def test_export_to_stdout_in_one_project(alice: Tenant) -> None:
    seed(alice)
    out, _ = gdpr("export", "--org", "alice", "--project", "app", "--key", "enduser.id", "--value", "u-2")
    kinds = [json.loads(line)["kind"] for line in out.splitlines()]
    assert len(kinds) == 17
    assert set(kinds) == {"span", "log", "metric_series", "metric_point"}


def test_delete_asks_first(alice: Tenant, monkeypatch: Any) -> None:
    seed(alice)
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(CommandError, match="Cancelled"):
        gdpr("delete", "--org", "alice", "--key", "enduser.id", "--value", "u-1")
    assert left(alice).spans == 10
    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    out, err = gdpr("delete", "--org", "alice", "--key", "enduser.id", "--value", "u-1", "--batch-size", "3")
    assert "This deletes 10 spans, 4 log records, 0 error occurrences, 1 metric series (3 points)" in err
    assert "100%  18/18" in err
    assert "Deleted 10 spans, 4 log records, 0 error occurrences, 1 metric series (3 points)" in out
    assert left(alice) == UserTelemetry()
    assert left(alice, "u-2").spans == 9


def test_delete_with_yes_does_not_ask(alice: Tenant, monkeypatch: Any) -> None:
    seed(alice)

    def refuse(prompt: str) -> str:
        raise AssertionError("asked")

    monkeypatch.setattr("builtins.input", refuse)
    out, _ = gdpr("delete", "--org", "alice", "--project", "app", "--key", "enduser.id", "--value", "u-1", "--yes")
    assert "Deleted 10 spans" in out
    assert AuditEntry.objects.for_organization(alice.organization.pk).filter(action="privacy.deleted").count() == 1


def test_unknown_names_are_explained(alice: Tenant, bob: Tenant) -> None:
    with pytest.raises(CommandError, match=re.escape("Unknown organization 'carol'. Organizations: alice, bob.")):
        gdpr("export", "--org", "carol", "--key", "enduser.id", "--value", "u-1")
    with pytest.raises(CommandError, match=re.escape("Unknown project 'web' in organization 'alice'. Projects: app.")):
        gdpr("export", "--org", "alice", "--project", "web", "--key", "enduser.id", "--value", "u-1")
    with pytest.raises(CommandError, match=re.escape("Unknown user key 'http.method'")):
        gdpr("delete", "--org", "alice", "--key", "http.method", "--value", "GET", "--yes")


def test_progress_bar_draws_in_place() -> None:
    from django.core.management.base import OutputWrapper

    stream = io.StringIO()
    bar = ProgressBar(OutputWrapper(stream), "deleting", width=10)
    bar(0, 4)
    bar(0, 4)  # unchanged: not redrawn
    bar(2, 4)
    bar(4, 4)
    bar.finish()
    assert stream.getvalue() == (
        "\rdeleting [..........]   0%  0/4\rdeleting [#####.....]  50%  2/4\rdeleting [##########] 100%  4/4\n"
    )
