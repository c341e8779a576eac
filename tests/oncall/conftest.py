"""Helpers of the on-call tests: schedules and channels in Bob's organization, written through the services."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from apps.notifications.models import Channel
from apps.oncall import services
from apps.oncall.models import Schedule
from apps.oncall.types import LayerSpec, ScheduleSpec, Shift
from tests.conftest import Tenant
from tests.support import fast_passwords  # noqa: F401  (fixture)

_NAMES = itertools.count(1)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def layer(name: str, rotation: str, start: date, members: list[Any], **fields: Any) -> LayerSpec:
    return LayerSpec(name=name, rotation=rotation, start_date=start, members=[m.pk for m in members], **fields)


def table(found: list[Shift]) -> list[tuple[str, datetime, datetime, str]]:
    """Shifts as (username, start, end, source) rows, easy to compare."""
    return [(s.user.username, s.start, s.end, s.source) for s in found]


@pytest.fixture
def people(bob: Tenant) -> dict[str, Any]:
    """Bob's members under short names: ann (owner), ben (admin), cat (editor), dan (analyst), eve (viewer)."""
    return dict(zip(["ann", "ben", "cat", "dan", "eve"], [bob.members[r] for r in
                    ("owner", "admin", "editor", "analyst", "viewer")], strict=True))  # fmt: skip


@pytest.fixture
def make_schedule(bob: Tenant) -> Callable[..., Schedule]:
    def make(*layers: LayerSpec, tz: str = "UTC", name: str | None = None) -> Schedule:
        spec = ScheduleSpec(name=name or f"schedule {next(_NAMES)}", time_zone=tz, layers=list(layers))
        return services.create_schedule(bob.organization.pk, bob.owner, spec)

    return make


@pytest.fixture
def make_channel(bob: Tenant) -> Callable[..., Channel]:
    """A channel row as apps.notifications stores it (team channel, or with ``user`` a contact method)."""

    def make(name: str, *, user: Any = None, enabled: bool = True, organization_id: int | None = None) -> Channel:
        org = organization_id or bob.organization.pk
        return Channel.objects.for_organization(org).create(organization_id=org, name=name, kind="email",
                                                            config={"recipients": [f"{name}@example.org"]},
                                                            user=user, enabled=enabled)  # fmt: skip

    return make
