"""Which escalation policy an incident goes to: the first routing rule whose matchers all match.

A rule's empty matchers match anything, so a rule without matchers placed last is the organization's default.
A matching rule without a policy means "do not escalate" (``route`` returns None, as when nothing matches).
"""

from __future__ import annotations

from collections.abc import Mapping

from apps.oncall import queries
from apps.oncall.models import EscalationPolicy, RoutingRule

__all__ = ["matches", "route"]


def matches(
    rule: RoutingRule, *, project_id: int | None, severity: str, service: str | None, labels: Mapping[str, str]
) -> bool:
    """Whether every matcher of ``rule`` holds: severity among its severities (case-insensitive), same project,
    same service, and each of its labels present with the same value."""
    if rule.severities and severity.lower() not in {s.lower() for s in rule.severities}:
        return False
    if rule.project_id is not None and rule.project_id != project_id:
        return False
    if rule.service and rule.service != service:
        return False
    return all(key in labels and str(labels[key]) == str(value) for key, value in (rule.labels or {}).items())


def route(
    organization_id: int, *, project_id: int | None, severity: str, service: str | None, labels: Mapping[str, str]
) -> EscalationPolicy | None:
    """The policy of the first matching rule (one query); None when no rule matches or it escalates to nobody."""
    for rule in queries.routing_rules(organization_id):
        if matches(rule, project_id=project_id, severity=severity, service=service, labels=labels):
            return rule.policy
    return None
