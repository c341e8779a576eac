"""The write API of ingest configuration: a project's scrub rules, audited."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.audit.actions import Action
from apps.audit.services import Origin, record
from apps.ingest import scrub
from apps.ingest.models import ScrubRule


class ScrubRuleError(ValueError):
    """A rule that cannot work; the message says how to fix it."""


def validate_rule(kind: str, pattern: str, action: str, category: str) -> None:
    try:
        scrub.ScrubRule(kind=kind, pattern=pattern, action=action, category=category)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ScrubRuleError(str(exc)) from exc


@transaction.atomic
def create_scrub_rule(
    organization_id: int,
    project_id: int,
    actor: Any,
    *,
    kind: str,
    pattern: str,
    action: str = "replace",
    category: str = "custom",
    origin: Origin | None = None,
) -> ScrubRule:
    validate_rule(kind, pattern, action, category)
    rule = ScrubRule.objects.for_organization(organization_id).create(
        organization_id=organization_id,
        project_id=project_id,
        kind=kind,
        pattern=pattern,
        action=action,
        category=category,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    record(
        organization_id,
        Action.SCRUB_RULE_CREATED,
        actor=actor,
        target=rule,
        after={"project_id": project_id, "kind": kind, "pattern": pattern, "action": action, "category": category},
        origin=origin,
    )
    return rule


@transaction.atomic
def delete_scrub_rule(rule: ScrubRule, actor: Any, *, origin: Origin | None = None) -> None:
    record(
        rule.organization_id,
        Action.SCRUB_RULE_DELETED,
        actor=actor,
        target=rule,
        before={"project_id": rule.project_id, "kind": rule.kind, "pattern": rule.pattern, "action": rule.action},
        origin=origin,
    )
    rule.delete()


def rules_of_project(organization_id: int, project_id: int) -> list[scrub.ScrubRule]:
    """The project's rules as the scrubber takes them (validated again: a rule saved by an older version may
    no longer pass; it is skipped rather than breaking ingest)."""
    rules = []
    for row in ScrubRule.objects.for_organization(organization_id).filter(project_id=project_id):
        try:
            rules.append(scrub.ScrubRule(kind=row.kind, pattern=row.pattern, action=row.action, category=row.category))  # type: ignore[arg-type]
        except ValueError:
            continue
    return rules
