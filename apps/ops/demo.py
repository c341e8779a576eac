"""The demo organization `make run` creates once, and the credentials file it writes."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from apps.accounts.models import ApiToken
from apps.accounts.services import create_api_token
from apps.alerting.models import AlertRule
from apps.alerting.services import save_rule
from apps.core.secrets import digest
from apps.tenants import services as tenants
from apps.tenants.access import MembershipAccessResolver
from apps.tenants.models import Organization, Project
from apps.tenants.roles import scopes_for

DEMO_USERNAME = "demo"
DEMO_ORGANIZATION = ("Demo", "demo")
DEMO_PROJECT = ("shop", "shop")


@dataclass(frozen=True)
class DemoCredentials:
    url: str
    username: str
    password: str
    organization: str
    project: str
    ingest_key: str
    api_token: str
    otlp_http: str
    otlp_grpc: str


def credentials_path() -> Path:
    return Path(settings.VAR_DIR) / "demo-credentials.json"


def _load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write(path: Path, data: dict[str, Any]) -> None:
    """Written to a 0600 file and renamed over the old one, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
        handle.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


@transaction.atomic
def ensure_demo() -> DemoCredentials:
    """Create the demo user, organization, project, ingest key and token if missing; reuse what is valid.

    Secrets are stored hashed, so the plaintexts come from the credentials
    file; anything the file lacks or that no longer works is issued anew.
    """
    path = credentials_path()
    saved = _load(path)
    user_model = get_user_model()
    user = user_model.objects.filter(username=DEMO_USERNAME).first()
    password = saved.get("password") or secrets.token_urlsafe(12)
    if user is None:
        user = user_model.objects.create_user(DEMO_USERNAME, email="demo@example.com", password=password)
    elif not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])

    org_name, org_slug = DEMO_ORGANIZATION
    organization = Organization.objects.filter(slug=org_slug).first()
    if organization is None:
        organization = tenants.create_organization(org_name, user, slug=org_slug)
    project_name, project_slug = DEMO_PROJECT
    project = Project.objects.for_organization(organization.pk).filter(slug=project_slug).first()
    if project is None:
        project = tenants.create_project(organization.pk, user, name=project_name, slug=project_slug)

    ingest_key = saved.get("ingest_key") or ""
    if tenants.authenticate_ingest_key(ingest_key) is None:
        ingest_key = tenants.create_ingest_key(project, user, name="demo").plaintext

    api_token = saved.get("api_token") or ""
    token = ApiToken.objects.for_organization(organization.pk).filter(token_hash=digest(api_token)).first()
    if token is None or not token.is_usable():
        access = MembershipAccessResolver().resolve(user, organization.slug, None)
        api_token = create_api_token(access, user, name="demo", scopes=scopes_for(access.role)).plaintext

    credentials = DemoCredentials(
        url=settings.VIGIL_PUBLIC_URL,
        username=DEMO_USERNAME,
        password=password,
        organization=organization.slug,
        project=project.slug,
        ingest_key=ingest_key,
        api_token=api_token,
        otlp_http=settings.VIGIL_PUBLIC_URL.rstrip("/"),
        otlp_grpc=f"http://{settings.VIGIL_HOST}:{settings.VIGIL_OTLP_GRPC_PORT}",
    )
    ensure_demo_alerting(organization, project, user)
    transaction.on_commit(lambda: _write(path, {**saved, **asdict(credentials)}))
    return credentials


# The demo's alert rule: the checkout regression of the demo story (docs/demo.md) fires it, so the incident
# pages show a real incident right after `make run`.
DEMO_RULE = {
    "name": "checkout slower than usual",
    "description": "POST /checkout p95 over 5 minutes. Fires after the demo's checkout 1.5.0 deploy.",
    "queries": {
        "latency": {
            "source": "red",
            "measure": "p95",
            "service": "checkout",
            "operation": "POST /checkout",
            "window_seconds": 300,
        },
    },
    "conditions": [{"query": "latency", "op": ">", "critical": 2500, "warning": 1800, "recovery": 1500}],
    "for_seconds": 60,
    "title_template": "{{ labels.service }}: POST /checkout p95 is {{ values.latency }} ms",
    "runbook_url": "https://github.com/opentelemetry/opentelemetry-demo",
}


def ensure_demo_alerting(organization: Organization, project: Project, user: Any) -> None:
    """The demo's rule, once (a rule someone deleted is created again at the next start: it is the demo)."""
    if AlertRule.objects.for_organization(organization.pk).filter(project=project, name=DEMO_RULE["name"]).exists():
        return
    save_rule(None, DEMO_RULE, organization_id=organization.pk, project_id=project.pk, actor=user)
