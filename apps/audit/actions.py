"""Every audited action, named once."""

from enum import StrEnum


class Action(StrEnum):
    LOGIN = "auth.login"
    LOGIN_FAILED = "auth.login_failed"
    LOGOUT = "auth.logout"
    PASSWORD_CHANGED = "auth.password_changed"
    PASSWORD_RESET = "auth.password_reset"
    ORGANIZATION_UPDATED = "organization.updated"
    MEMBER_INVITED = "member.invited"
    INVITATION_REVOKED = "member.invitation_revoked"
    MEMBER_JOINED = "member.joined"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"
    PROJECT_CREATED = "project.created"
    PROJECT_UPDATED = "project.updated"
    PROJECT_DELETED = "project.deleted"
    INGEST_KEY_CREATED = "ingest_key.created"
    INGEST_KEY_REVOKED = "ingest_key.revoked"
    API_TOKEN_CREATED = "api_token.created"
    API_TOKEN_REVOKED = "api_token.revoked"
    AUDIT_EXPORTED = "audit.exported"
    SCRUB_RULE_CREATED = "scrub_rule.created"
    SCRUB_RULE_DELETED = "scrub_rule.deleted"
