"""No dead links: follow every link a member can see, from `/`, and expect each page to answer 200.

A crawl as the owner (sees everything) and as a viewer (sees least): every
internal `href` on every reachable page must open, so navigation never
offers a page that does not exist or that the role may not open.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urlsplit

import pytest
from django.test import Client

from tests.conftest import Tenant

# Links that leave the page flow on purpose: downloads and the API browser.
_NOT_PAGES = ("/api/", "/static/")


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = dict(attrs).get("href")
            if href:
                self.hrefs.append(href)


def _internal(href: str) -> str | None:
    url, _ = urldefrag(href)
    parts = urlsplit(url)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    if parts.path.startswith(_NOT_PAGES) or parts.path.endswith("/export/"):
        return None
    return url


def crawl(user: Any) -> dict[str, int]:
    client = Client()
    client.force_login(user)
    seen: dict[str, int] = {}
    queue = ["/"]
    while queue and len(seen) < 200:
        url = queue.pop()
        if url in seen:
            continue
        response = client.get(url, follow=True)
        seen[url] = response.status_code
        if "text/html" not in response.get("Content-Type", ""):
            continue
        parser = _Links()
        parser.feed(response.content.decode())
        queue.extend(link for href in parser.hrefs if (link := _internal(href)) and link not in seen)
    return seen


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["owner", "viewer"])
def test_every_link_a_member_sees_opens(alice: Tenant, role: str) -> None:
    pages = crawl(alice.members[role])
    broken = {url: status for url, status in pages.items() if status != 200}
    assert not broken, f"links that do not open for the {role}: {broken}"
    assert len(pages) >= (8 if role == "owner" else 4), sorted(pages)


@pytest.mark.django_db
def test_the_crawl_notices_a_dead_link(alice: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    """The crawler itself must be able to fail: a page linking to a missing URL is reported."""
    original = _Links.handle_starttag

    def with_dead_link(self: _Links, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        original(self, tag, attrs)
        if tag == "body":
            self.hrefs.append("/o/alice/no-such-page/")

    monkeypatch.setattr(_Links, "handle_starttag", with_dead_link)
    assert crawl(alice.owner)["/o/alice/no-such-page/"] == 404
