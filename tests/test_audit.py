"""Every audited action writes one entry with organization, actor, target, before/after and origin."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.models import ApiToken
from apps.alerting.models import AlertRule, Silence
from apps.audit.actions import Action
from apps.audit.models import AuditEntry
from apps.audit.queries import CSV_COLUMNS
from apps.audit.services import Origin, record
from apps.ingest.models import ScrubRule
from apps.tenants import services as tenant_services
from apps.tenants.models import Invitation, Membership, Project
from apps.tenants.roles import Role
from apps.tracing.models import SamplingPolicy
from tests.conftest import Tenant
from tests.factories import PASSWORD, MembershipFactory
from tests.support import fast_passwords, reset_login_throttle  # noqa: F401  (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

IP = "203.0.113.7"
UA = "AuditTest/1.0 (+vigil)"


def web(user: Any = None) -> Client:
    client = Client(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    if user is not None:
        client.force_login(user)
    return client


def api(user: Any) -> APIClient:
    client = APIClient(REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    client.force_login(user)
    return client


def expect(
    action: Action,
    organization_id: int,
    *,
    actor: Any,
    target: Any = None,
    target_type: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    origin: bool = True,
    after_id: int = 0,
) -> AuditEntry:
    """The one entry of ``action`` in the organization (newer than ``after_id``), checked field by field."""
    rows = list(
        AuditEntry.objects.for_organization(organization_id).filter(action=str(action), id__gt=after_id).order_by("-id")
    )
    assert len(rows) == 1, f"expected one {action} entry, found {len(rows)}"
    entry = rows[0]
    assert entry.organization_id == organization_id
    if isinstance(actor, str):
        assert entry.actor is None
        assert entry.actor_label == actor
    else:
        assert entry.actor_id == actor.pk
        assert entry.actor_label == actor.get_username()
    if target is not None:
        assert entry.target_type == type(target).__name__.lower()
        assert entry.target_id == str(target.pk)
        assert entry.target_label == str(target)
    if target_type is not None:
        assert entry.target_type == target_type
    assert entry.before == (before or {})
    assert entry.after == (after or {})
    if origin:
        assert (entry.ip_address, entry.user_agent) == (IP, UA)
    return entry


def organizations_of(user: Any) -> list[int]:
    return list(Membership.objects.unscoped().filter(user=user).values_list("organization_id", flat=True))


@pytest.fixture
def member_of_two(alice: Tenant, bob: Tenant) -> Any:
    """Bob's editor, also a viewer of Alice's: account events go to every organization of the user."""
    user = bob.members[Role.EDITOR]
    MembershipFactory(organization=alice.organization, user=user, role=Role.VIEWER)
    return user


# --- Accounts ---------------------------------------------------------------------------------------------------------


def test_login(member_of_two: Any) -> None:
    reset_login_throttle(IP, member_of_two.username)
    response = web().post("/login/", {"username": member_of_two.username, "password": PASSWORD})
    assert response.status_code == 302
    assert len(organizations_of(member_of_two)) == 2
    for organization_id in organizations_of(member_of_two):
        expect(Action.LOGIN, organization_id, actor=member_of_two, target=member_of_two)


def test_failed_login_of_a_known_user(bob: Tenant) -> None:
    user = bob.members[Role.VIEWER]
    reset_login_throttle(IP, user.username)
    response = web().post("/login/", {"username": user.username, "password": "wrong password!"})
    assert response.status_code == 200
    expect(
        Action.LOGIN_FAILED,
        bob.organization.pk,
        actor=user.username,
        target=user,
        after={"reason": "wrong password"},
    )
    reset_login_throttle(IP, user.username)


def test_failed_login_of_an_unknown_user_records_nothing(bob: Tenant) -> None:
    reset_login_throttle(IP, "nobody-at-all")
    web().post("/login/", {"username": "nobody-at-all", "password": "whatever it is"})
    assert not AuditEntry.objects.unscoped().filter(action=str(Action.LOGIN_FAILED)).exists()
    reset_login_throttle(IP, "nobody-at-all")


def test_logout(bob: Tenant) -> None:
    user = bob.members[Role.ANALYST]
    client = web(user)
    assert client.post("/logout/").status_code == 302
    expect(Action.LOGOUT, bob.organization.pk, actor=user, target=user)
    assert "_auth_user_id" not in client.session


def test_password_change(bob: Tenant) -> None:
    user = bob.members[Role.VIEWER]
    response = web(user).post(
        "/account/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "a much newer secret 42",
            "new_password2": "a much newer secret 42",
        },
    )
    assert response.status_code == 302, response.content[:500]
    user.refresh_from_db()
    assert user.check_password("a much newer secret 42")
    expect(Action.PASSWORD_CHANGED, bob.organization.pk, actor=user, target=user)


def test_password_reset_full_flow(bob: Tenant, settings: Any) -> None:
    user = bob.members[Role.VIEWER]
    client = web()
    assert client.post("/account/password/reset/", {"email": user.email}).status_code == 302
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [user.email]
    link = re.search(r"https?://\S+/account/password/reset/[^/\s]+/[^/\s]+/", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    assert link.group(0).startswith(settings.VIGIL_PUBLIC_URL.rstrip("/"))
    path = "/" + link.group(0).split("/", 3)[3]
    form_page = client.get(path, follow=True)
    assert form_page.status_code == 200
    set_password_url = form_page.redirect_chain[-1][0] if form_page.redirect_chain else path
    response = client.post(
        set_password_url, {"new_password1": "reset to this secret 77", "new_password2": "reset to this secret 77"}
    )
    assert response.status_code == 302, response.content[:500]
    user.refresh_from_db()
    assert user.check_password("reset to this secret 77")
    expect(Action.PASSWORD_RESET, bob.organization.pk, actor=user, target=user)


# --- Organization, members, invitations -----------------------------------------------------------------------------


def test_organization_updated(bob: Tenant) -> None:
    response = api(bob.owner).patch(f"/api/v1/orgs/{bob.slug}/", {"name": "Bob Inc"}, format="json")
    assert response.status_code == 200
    bob.organization.refresh_from_db()
    expect(
        Action.ORGANIZATION_UPDATED,
        bob.organization.pk,
        actor=bob.owner,
        target=bob.organization,
        before={"name": "Bob"},
        after={"name": "Bob Inc"},
    )


def test_member_invited(bob: Tenant) -> None:
    admin = bob.members[Role.ADMIN]
    response = api(admin).post(
        f"/api/v1/orgs/{bob.slug}/invitations/", {"email": "New@Example.org", "role": "editor"}, format="json"
    )
    assert response.status_code == 201, response.content
    invitation = Invitation.objects.for_organization(bob.organization.pk).get()
    expect(
        Action.MEMBER_INVITED,
        bob.organization.pk,
        actor=admin,
        target=invitation,
        after={"email": "new@example.org", "role": "editor"},
    )


def test_invitation_revoked(bob: Tenant) -> None:
    invitation = tenant_services.invite_member(
        bob.organization.pk, bob.owner, Role.OWNER, email="gone@example.org", role=Role.VIEWER
    ).invitation
    admin = bob.members[Role.ADMIN]
    response = api(admin).delete(f"/api/v1/orgs/{bob.slug}/invitations/{invitation.pk}/")
    assert response.status_code == 204
    expect(
        Action.INVITATION_REVOKED,
        bob.organization.pk,
        actor=admin,
        target=invitation,
        before={"email": invitation.email},
    )


def test_member_joined_by_accepting_an_invitation(alice: Tenant, bob: Tenant) -> None:
    joiner = alice.members[Role.VIEWER]
    issued = tenant_services.invite_member(
        bob.organization.pk, bob.owner, Role.OWNER, email=joiner.email, role=Role.ANALYST
    )
    response = web(joiner).post(f"/invitations/{issued.token}/")
    assert response.status_code == 302, response.content[:300]
    assert Membership.objects.for_organization(bob.organization.pk).get(user=joiner).role == Role.ANALYST
    expect(
        Action.MEMBER_JOINED,
        bob.organization.pk,
        actor=joiner,
        target=joiner,
        after={"role": "analyst", "invitation": issued.invitation.pk},
    )


def test_member_role_changed(bob: Tenant) -> None:
    admin, target = bob.members[Role.ADMIN], bob.members[Role.VIEWER]
    membership = Membership.objects.for_organization(bob.organization.pk).get(user=target)
    response = api(admin).patch(f"/api/v1/orgs/{bob.slug}/members/{membership.pk}/", {"role": "editor"}, format="json")
    assert response.status_code == 200, response.content
    expect(
        Action.MEMBER_ROLE_CHANGED,
        bob.organization.pk,
        actor=admin,
        target=target,
        before={"role": "viewer"},
        after={"role": "editor"},
    )


def test_member_removed(bob: Tenant) -> None:
    admin, target = bob.members[Role.ADMIN], bob.members[Role.ANALYST]
    membership = Membership.objects.for_organization(bob.organization.pk).get(user=target)
    response = api(admin).delete(f"/api/v1/orgs/{bob.slug}/members/{membership.pk}/")
    assert response.status_code == 204
    assert not Membership.objects.for_organization(bob.organization.pk).filter(user=target).exists()
    expect(Action.MEMBER_REMOVED, bob.organization.pk, actor=admin, target=target, before={"role": "analyst"})


# --- Projects and keys ------------------------------------------------------------------------------------------------


def test_project_created_updated_deleted(bob: Tenant) -> None:
    admin = bob.members[Role.ADMIN]
    base = f"/api/v1/orgs/{bob.slug}/projects/"
    response = api(admin).post(base, {"name": "Checkout", "slug": "checkout"}, format="json")
    assert response.status_code == 201, response.content
    project = Project.objects.for_organization(bob.organization.pk).get(slug="checkout")
    expect(
        Action.PROJECT_CREATED,
        bob.organization.pk,
        actor=admin,
        target=project,
        after={"name": "Checkout", "slug": "checkout"},
    )

    assert api(admin).patch(f"{base}checkout/", {"name": "Checkout v2"}, format="json").status_code == 200
    project.refresh_from_db()
    expect(
        Action.PROJECT_UPDATED,
        bob.organization.pk,
        actor=admin,
        target=project,
        before={"name": "Checkout"},
        after={"name": "Checkout v2"},
    )

    assert api(admin).delete(f"{base}checkout/").status_code == 204
    entry = expect(
        Action.PROJECT_DELETED,
        bob.organization.pk,
        actor=admin,
        target_type="project",
        before={"name": "Checkout v2", "slug": "checkout"},
    )
    assert entry.target_id == str(project.pk)
    assert entry.target_label == "Checkout v2"


def test_ingest_key_created_and_revoked(bob: Tenant) -> None:
    admin = bob.members[Role.ADMIN]
    before_test = AuditEntry.objects.for_organization(bob.organization.pk).order_by("-id")[0].pk  # the fixture's key
    base = f"/api/v1/orgs/{bob.slug}/projects/app/keys/"
    response = api(admin).post(base, {"name": "ci"}, format="json")
    assert response.status_code == 201, response.content
    key_id, prefix = response.json()["id"], response.json()["prefix"]
    entry = expect(
        Action.INGEST_KEY_CREATED,
        bob.organization.pk,
        actor=admin,
        target_type="ingestkey",
        after={"project": "app", "prefix": prefix, "expires_at": None},
        after_id=before_test,
    )
    assert entry.target_id == str(key_id)
    assert response.json()["key"] not in str(entry.after) + entry.target_label  # the secret is never audited

    assert api(admin).post(f"{base}{key_id}/revoke/").status_code == 200
    entry = expect(
        Action.INGEST_KEY_REVOKED, bob.organization.pk, actor=admin, target_type="ingestkey", before={"prefix": prefix}
    )
    assert entry.target_id == str(key_id)


def test_api_token_created_and_revoked(bob: Tenant) -> None:
    user = bob.members[Role.ANALYST]
    base = f"/api/v1/orgs/{bob.slug}/tokens/"
    response = api(user).post(base, {"name": "script", "scopes": ["org:read", "telemetry:read"]}, format="json")
    assert response.status_code == 201, response.content
    token = ApiToken.objects.for_organization(bob.organization.pk).get(pk=response.json()["id"])
    expect(
        Action.API_TOKEN_CREATED,
        bob.organization.pk,
        actor=user,
        target=token,
        after={"scopes": ["org:read", "telemetry:read"], "prefix": token.prefix},
    )
    assert api(user).post(f"{base}{token.pk}/revoke/").status_code == 200
    token.refresh_from_db()
    expect(Action.API_TOKEN_REVOKED, bob.organization.pk, actor=user, target=token, before={"prefix": token.prefix})


def test_scrub_rule_created_and_deleted(bob: Tenant) -> None:
    admin = bob.members[Role.ADMIN]
    base = f"/api/v1/orgs/{bob.slug}/projects/{bob.project.slug}/scrub-rules/"
    body = {"kind": "key", "pattern": "customer.ssn", "action": "hash", "category": "ssn"}
    response = api(admin).post(base, body, format="json")
    assert response.status_code == 201, response.content
    rule = ScrubRule.objects.for_organization(bob.organization.pk).get(pk=response.json()["id"])
    expect(
        Action.SCRUB_RULE_CREATED,
        bob.organization.pk,
        actor=admin,
        target=rule,
        after={"project_id": bob.project.pk, **body},
    )
    assert api(admin).delete(f"{base}{rule.pk}/").status_code == 204
    expect(
        Action.SCRUB_RULE_DELETED,
        bob.organization.pk,
        actor=admin,
        target_type="scrubrule",
        before={"project_id": bob.project.pk, "kind": "key", "pattern": "customer.ssn", "action": "hash"},
    )


def test_sampling_policy_changed(bob: Tenant) -> None:
    admin = bob.members[Role.ADMIN]
    url = f"/api/v1/orgs/{bob.slug}/projects/{bob.project.slug}/sampling/"
    response = api(admin).put(url, {"keep_share": 0.1, "decision_window_seconds": 10}, format="json")
    assert response.status_code == 200, response.content
    policy = SamplingPolicy.objects.for_organization(bob.organization.pk).get(project_id=bob.project.pk)
    defaults = {"keep_share": 1.0, "slow_threshold_ms": 1000, "decision_window_seconds": 30}
    expect(
        Action.SAMPLING_POLICY_CHANGED,
        bob.organization.pk,
        actor=admin,
        target=policy,
        before=defaults,
        after={**defaults, "keep_share": 0.1, "decision_window_seconds": 10},
    )
    last = AuditEntry.objects.for_organization(bob.organization.pk).order_by("-id").first()
    assert last is not None
    assert api(admin).put(url, {"keep_share": 1}, format="json").status_code == 200
    expect(
        Action.SAMPLING_POLICY_CHANGED,
        bob.organization.pk,
        actor=admin,
        target=policy,
        before={**defaults, "keep_share": 0.1, "decision_window_seconds": 10},
        after={**defaults, "decision_window_seconds": 10},
        after_id=last.pk,
    )


# --- Errors ---------------------------------------------------------------------------------------------------------


def test_error_status_changed_and_reopened(bob: Tenant) -> None:
    from apps.errors.models import ErrorGroup
    from tests.errors.test_issues import failing_span, ingest

    ingest(bob, [failing_span(1, ago_s=120)])
    issue = ErrorGroup.objects.for_organization(bob.organization.pk).get()
    url = f"/api/v1/orgs/{bob.slug}/projects/{bob.project.slug}/errors/{issue.fingerprint}/"
    editor = bob.members["editor"]
    assert api(editor).patch(url, {"status": "resolved"}, format="json").status_code == 200
    expect(Action.ERROR_STATUS_CHANGED, bob.organization.pk, actor=editor, target=issue,
           before={"status": "unresolved"}, after={"status": "resolved"})  # fmt: skip
    ingest(bob, [failing_span(2, ago_s=0)])
    expect(
        Action.ERROR_REOPENED,
        bob.organization.pk,
        actor="ingest (the error occurred again)",
        target=issue,
        before={"status": "resolved"},
        after={"status": "unresolved"},
        origin=False,
    )


def test_service_settings_changed(bob: Tenant) -> None:
    from apps.tracing.models import ServiceSettings
    from tests.support import _trace

    service = _trace(bob, bob.owner).service
    url = f"/api/v1/orgs/{bob.slug}/projects/{bob.project.slug}/services/{service}/settings/"
    admin = bob.members["admin"]
    assert api(admin).put(url, {"apdex_threshold_ms": 250}, format="json").status_code == 200
    settings = ServiceSettings.objects.for_organization(bob.organization.pk).get(service=service)
    expect(Action.SERVICE_SETTINGS_CHANGED, bob.organization.pk, actor=admin, target=settings,
           before={"apdex_threshold_ms": 500}, after={"apdex_threshold_ms": 250})  # fmt: skip


# --- Privacy (GDPR) -------------------------------------------------------------------------------------------------


def test_privacy_export_and_delete_are_audited_without_the_value(bob: Tenant) -> None:
    import hashlib

    owner = bob.owner
    base = f"/api/v1/orgs/{bob.slug}/privacy/"
    body = {"key": "user.email", "value": "jane@example.org", "project": bob.project.slug}
    assert api(owner).post(base + "export/", body, format="json").status_code == 200
    details = {
        "key": "user.email",
        "value_sha256": hashlib.sha256(b"jane@example.org").hexdigest(),
        "project": bob.project.slug,
        "spans": 0,
        "logs": 0,
        "metric_series": 0,
        "metric_points": 0,
        "error_occurrences": 0,
    }
    expect(Action.PRIVACY_EXPORTED, bob.organization.pk, actor=owner, target=bob.project,
           after={**details, "truncated": False})  # fmt: skip
    assert api(owner).post(base + "delete/", body, format="json").status_code == 200
    expect(Action.PRIVACY_DELETED, bob.organization.pk, actor=owner, target=bob.project, after=details)


# --- The audit API ----------------------------------------------------------------------------------------------------


def test_audit_exported_as_csv(alice: Tenant, bob: Tenant) -> None:
    record(bob.organization.pk, Action.PROJECT_UPDATED, actor=bob.owner, target=bob.project, after={"name": 'x,"y"'})
    record(alice.organization.pk, Action.PROJECT_UPDATED, actor=alice.owner, target=alice.project)
    expected = AuditEntry.objects.for_organization(bob.organization.pk).count()
    admin = bob.members[Role.ADMIN]
    response = api(admin).get(f"/api/v1/orgs/{bob.slug}/audit/export/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == CSV_COLUMNS
    assert len(rows) == 1 + expected
    assert {r[1] for r in rows[1:]} <= {"bob-owner", "system"}  # nothing of Alice's
    assert rows[1][1:3] == ["bob-owner", "project.updated"]
    assert rows[1][7] == '{"name": "x,\\"y\\""}'
    expect(Action.AUDIT_EXPORTED, bob.organization.pk, actor=admin, after={"format": "csv", "rows": expected})


def test_audit_api_requires_audit_read(bob: Tenant) -> None:
    for role in (Role.ANALYST, Role.EDITOR, Role.VIEWER):
        for path in ("", "export/"):
            response = api(bob.members[role]).get(f"/api/v1/orgs/{bob.slug}/audit/{path}")
            assert response.status_code == 403, (role, path)
            assert "audit:read" in response.json()["error"]["message"]
    assert not AuditEntry.objects.for_organization(bob.organization.pk).filter(action=str(Action.AUDIT_EXPORTED))


def test_audit_api_lists_and_filters(alice: Tenant, bob: Tenant) -> None:
    origin = Origin(ip_address=IP, user_agent=UA)
    record(bob.organization.pk, Action.PROJECT_CREATED, actor=bob.owner, target=bob.project, origin=origin)
    record(bob.organization.pk, Action.MEMBER_INVITED, actor=bob.members[Role.ADMIN], origin=origin)
    record(bob.organization.pk, Action.MEMBER_REMOVED, actor=bob.owner, origin=origin)
    record(alice.organization.pk, Action.MEMBER_REMOVED, actor=alice.owner, origin=origin)
    client = api(bob.members[Role.ADMIN])
    base = f"/api/v1/orgs/{bob.slug}/audit/"

    everything = client.get(base).json()
    assert everything["count"] == AuditEntry.objects.for_organization(bob.organization.pk).count() == 4
    assert [e["action"] for e in everything["results"]] == [
        "member.removed",
        "member.invited",
        "project.created",
        "ingest_key.created",  # the fixture's key
    ]
    first = everything["results"][0]
    assert (first["actor"], first["ip_address"], first["user_agent"]) == ("bob-owner", IP, UA)

    members = client.get(base, {"action": "member."}).json()
    assert [e["action"] for e in members["results"]] == ["member.removed", "member.invited"]
    by_owner = client.get(base, {"actor": "BOB-OWNER"}).json()
    assert [e["action"] for e in by_owner["results"]] == ["member.removed", "project.created", "ingest_key.created"]
    both = client.get(base, {"actor": "bob-owner", "action": "project."}).json()
    assert [e["action"] for e in both["results"]] == ["project.created"]

    rows = list(csv.reader(io.StringIO(client.get(base + "export/", {"action": "member."}).content.decode())))
    assert [r[2] for r in rows[1:]] == ["member.removed", "member.invited"]


# --- Every action is tested -------------------------------------------------------------------------------------------

_TESTED = set(re.findall(r"expect\(\s*Action\.([A-Z_]+)", Path(__file__).read_text()))


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.name)
def test_every_action_has_a_test(action: Action) -> None:
    assert action.name in _TESTED, f"add a test to tests/test_audit.py that expect()s Action.{action.name}"


# --- Notification channels ----------------------------------------------------------------------------------------


def test_channel_created_updated_deleted_with_secrets_masked(bob: Tenant) -> None:
    from apps.notifications.models import Channel
    from tests.notifications.test_transports import ROUTING_KEY

    editor = bob.members[Role.EDITOR]
    base = f"/api/v1/orgs/{bob.slug}/channels/"
    body = {"name": "pager", "kind": "pagerduty", "config": {"routing_key": ROUTING_KEY}}
    assert api(editor).post(base, body, format="json").status_code == 201
    channel = Channel.objects.for_organization(bob.organization.pk).get()
    config = {"routing_key": "********", "events_url": "https://events.pagerduty.com/v2/enqueue"}
    expect(Action.CHANNEL_CREATED, bob.organization.pk, actor=editor, target=channel,
           after={"name": "pager", "kind": "pagerduty", "config": config, "enabled": True})  # fmt: skip
    created = AuditEntry.objects.for_organization(bob.organization.pk).get(action=str(Action.CHANNEL_CREATED))
    assert ROUTING_KEY not in str(created.after)

    patch = {"name": "paging", "config": {"routing_key": "Z" * 32}}
    assert api(editor).patch(f"{base}{channel.pk}/", patch, format="json").status_code == 200
    channel.refresh_from_db()
    expect(Action.CHANNEL_UPDATED, bob.organization.pk, actor=editor, target=channel,
           before={"name": "pager", "config": config},
           after={"name": "paging", "config": config, "secrets_changed": ["routing_key"]})  # fmt: skip

    assert api(editor).delete(f"{base}{channel.pk}/").status_code == 204
    expect(Action.CHANNEL_DELETED, bob.organization.pk, actor=editor, target=channel,
           before={"name": "paging", "kind": "pagerduty", "config": config, "enabled": True})  # fmt: skip


def test_channel_disabled_by_vigil_is_recorded_as_the_system(bob: Tenant) -> None:
    from apps.notifications import services as notification_services

    channel = notification_services.create_channel(bob.organization.pk, bob.owner, name="mail", kind="email",
                                                   config={"recipients": ["a@example.org"]})  # fmt: skip
    assert notification_services.disable_channel(channel, "SMTP answered 550: no such user")
    assert not notification_services.disable_channel(channel, "again")  # once only
    expect(Action.CHANNEL_DISABLED, bob.organization.pk, actor="system", target=channel, before={"enabled": True},
           after={"enabled": False, "reason": "SMTP answered 550: no such user"}, origin=False)  # fmt: skip


# --- On call: schedules, overrides, escalation policies, routing rules ---------------------------------------------


def test_schedule_created_updated_deleted(bob: Tenant) -> None:
    from apps.oncall.models import Schedule

    editor, owner = bob.members[Role.EDITOR], bob.owner
    base = f"/api/v1/orgs/{bob.slug}/schedules/"
    layer = {"name": "Week", "rotation": "weekly", "handoff_weekday": 0, "start_date": "2025-01-06",
             "members": [owner.pk, editor.pk]}  # fmt: skip
    body = {"name": "Ops", "time_zone": "Europe/Paris", "layers": [layer]}
    assert api(editor).post(base, body, format="json").status_code == 201
    schedule = Schedule.objects.for_organization(bob.organization.pk).get()
    stored = {**layer, "handoff_time": "09:00", "shift_hours": None, "restrict_weekdays": [], "restrict_start": None,
              "restrict_end": None}  # fmt: skip
    snapshot = {"name": "Ops", "time_zone": "Europe/Paris", "description": "", "layers": [stored]}
    expect(Action.SCHEDULE_CREATED, bob.organization.pk, actor=editor, target=schedule, after=snapshot)

    assert api(editor).patch(f"{base}{schedule.pk}/", {"time_zone": "UTC"}, format="json").status_code == 200
    expect(Action.SCHEDULE_UPDATED, bob.organization.pk, actor=editor, target=schedule,
           before={"time_zone": "Europe/Paris"}, after={"time_zone": "UTC"})  # fmt: skip
    last = AuditEntry.objects.for_organization(bob.organization.pk).order_by("-id")[0].pk
    assert api(editor).patch(f"{base}{schedule.pk}/", {"time_zone": "UTC"}, format="json").status_code == 200
    assert AuditEntry.objects.for_organization(bob.organization.pk).order_by("-id")[0].pk == last  # no change, no entry

    override = api(editor).post(f"{base}{schedule.pk}/overrides/", {"start": "2030-01-01T00:00:00Z",
                                "end": "2030-01-01T08:00:00Z", "reason": "swap"}, format="json").json()  # fmt: skip
    from apps.oncall.models import Override

    row = Override.objects.for_organization(bob.organization.pk).get(pk=override["id"])
    kept = {"schedule": schedule.pk, "user": editor.pk, "start": "2030-01-01T00:00:00+00:00",
            "end": "2030-01-01T08:00:00+00:00", "reason": "swap"}  # fmt: skip
    expect(Action.SCHEDULE_OVERRIDE_CREATED, bob.organization.pk, actor=editor, target=row, after=kept)
    assert api(editor).delete(f"/api/v1/orgs/{bob.slug}/schedule-overrides/{row.pk}/").status_code == 204
    entry = expect(Action.SCHEDULE_OVERRIDE_DELETED, bob.organization.pk, actor=editor, target_type="override",
                   before=kept)  # fmt: skip
    assert entry.target_id == str(override["id"])

    assert api(editor).delete(f"{base}{schedule.pk}/").status_code == 204
    entry = expect(Action.SCHEDULE_DELETED, bob.organization.pk, actor=editor, target_type="schedule",
                   before={**snapshot, "time_zone": "UTC"})  # fmt: skip
    assert (entry.target_id, entry.target_label) == (str(schedule.pk), "Ops")


def test_escalation_policy_and_routing_rule_changes(bob: Tenant) -> None:
    from apps.oncall.models import EscalationPolicy, RoutingRule

    editor = bob.members[Role.EDITOR]
    policies = f"/api/v1/orgs/{bob.slug}/escalation-policies/"
    body = {"name": "Standard", "steps": [{"delay_minutes": 5, "users": [editor.pk]}]}
    assert api(editor).post(policies, body, format="json").status_code == 201
    policy = EscalationPolicy.objects.for_organization(bob.organization.pk).get()
    snapshot = {"name": "Standard", "description": "", "repeat": 0,
                "steps": [{"delay_minutes": 5, "channels": [], "users": [editor.pk], "schedules": []}]}  # fmt: skip
    expect(Action.ESCALATION_POLICY_CREATED, bob.organization.pk, actor=editor, target=policy, after=snapshot)
    assert api(editor).patch(f"{policies}{policy.pk}/", {"repeat": 2}, format="json").status_code == 200
    expect(Action.ESCALATION_POLICY_UPDATED, bob.organization.pk, actor=editor, target=policy, before={"repeat": 0},
           after={"repeat": 2})  # fmt: skip

    rules = f"/api/v1/orgs/{bob.slug}/routing-rules/"
    assert api(editor).post(rules, {"name": "all", "policy": policy.pk}, format="json").status_code == 201
    rule = RoutingRule.objects.for_organization(bob.organization.pk).get()
    kept = {"order": 0, "name": "all", "severities": [], "project_id": None, "service": "", "labels": {},
            "policy_id": policy.pk}  # fmt: skip
    expect(Action.ROUTING_RULE_CREATED, bob.organization.pk, actor=editor, target=rule, after=kept)
    assert api(editor).patch(f"{rules}{rule.pk}/", {"severities": ["critical"]}, format="json").status_code == 200
    expect(Action.ROUTING_RULE_UPDATED, bob.organization.pk, actor=editor, target=rule, before={"severities": []},
           after={"severities": ["critical"]})  # fmt: skip
    assert api(editor).delete(f"{rules}{rule.pk}/").status_code == 204
    expect(Action.ROUTING_RULE_DELETED, bob.organization.pk, actor=editor, target_type="routingrule",
           before={**kept, "severities": ["critical"]})  # fmt: skip

    assert api(editor).delete(f"{policies}{policy.pk}/").status_code == 204
    entry = expect(Action.ESCALATION_POLICY_DELETED, bob.organization.pk, actor=editor, target_type="escalationpolicy",
                   before={**snapshot, "repeat": 2})  # fmt: skip
    assert entry.target_id == str(policy.pk)


def test_alert_rule_created_updated_deleted(bob: Tenant) -> None:
    editor = bob.members[Role.EDITOR]
    base = f"/api/v1/orgs/{bob.slug}/projects/{bob.project.slug}/alert-rules/"
    query = {"source": "red", "measure": "p95", "service": "checkout", "window_seconds": 300}
    body = {
        "name": "slow checkout",
        "queries": {"a": query},
        "conditions": [{"query": "a", "op": ">", "critical": 500}],
    }
    response = api(editor).post(base, body, format="json")
    assert response.status_code == 201, response.content
    rule = AlertRule.objects.for_organization(bob.organization.pk).get()
    snapshot = {
        "name": "slow checkout", "queries": {"a": {**query, "operation": None}}, "conditions": body["conditions"],
        "combine": "and", "group_by": [], "for_seconds": 0, "no_data": "keep", "interval_seconds": 30, "labels": {},
        "channels": [], "enabled": True, "muted_until": None,
    }  # fmt: skip
    expect(Action.ALERT_RULE_CREATED, bob.organization.pk, actor=editor, target=rule, after=snapshot)

    assert api(editor).patch(f"{base}{rule.pk}/", {"for_seconds": 120}, format="json").status_code == 200
    rule.refresh_from_db()
    expect(Action.ALERT_RULE_UPDATED, bob.organization.pk, actor=editor, target=rule, before=snapshot,
           after={**snapshot, "for_seconds": 120})  # fmt: skip

    assert api(editor).delete(f"{base}{rule.pk}/").status_code == 204
    expect(Action.ALERT_RULE_DELETED, bob.organization.pk, actor=editor, target_type="alertrule",
           before={**snapshot, "for_seconds": 120})  # fmt: skip


def test_silence_created_and_expired(bob: Tenant) -> None:
    editor = bob.members[Role.EDITOR]
    base = f"/api/v1/orgs/{bob.slug}/silences/"
    body = {"matchers": [{"label": "service", "op": "=", "value": "checkout"}], "comment": "deploying",
            "starts_at": "2026-11-29T10:00:00Z", "ends_at": "2099-11-29T12:00:00Z"}  # fmt: skip
    response = api(editor).post(base, body, format="json")
    assert response.status_code == 201, response.content
    silence = Silence.objects.for_organization(bob.organization.pk).get()
    expect(Action.SILENCE_CREATED, bob.organization.pk, actor=editor, target=silence,
           after={"kind": "silence", "matchers": body["matchers"], "starts_at": "2026-11-29T10:00:00+00:00",
                  "ends_at": "2099-11-29T12:00:00+00:00", "comment": "deploying", "project_id": None})  # fmt: skip

    assert api(editor).delete(f"{base}{silence.pk}/").status_code == 204
    silence.refresh_from_db()
    expect(Action.SILENCE_EXPIRED, bob.organization.pk, actor=editor, target=silence,
           before={"ends_at": "2099-11-29T12:00:00+00:00"}, after={"ends_at": silence.ends_at.isoformat()})  # fmt: skip
    assert silence.ends_at < silence.created_at + timedelta(minutes=5)
