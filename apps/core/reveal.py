"""Secrets shown exactly once: carried from a POST to the page after its redirect, then forgotten.

A created key or token is put in the session by the POST and taken out by
the next GET of its result page (post/redirect/get), so reloading that page
or going back never shows the secret again and never creates a second one.
It sits in the server-side session only between those two requests.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

_SESSION_KEY = "vigil_reveal"


@dataclass(frozen=True)
class Revealed:
    kind: str
    object_id: int
    plaintext: str


def stash_secret(request: HttpRequest, kind: str, object_id: int, plaintext: str) -> None:
    request.session[_SESSION_KEY] = {"kind": kind, "id": object_id, "plaintext": plaintext}


def take_secret(request: HttpRequest, kind: str) -> Revealed | None:
    """The stashed secret of ``kind``, removed from the session; None if there is none (already shown)."""
    stashed = request.session.get(_SESSION_KEY)
    if not isinstance(stashed, dict) or stashed.get("kind") != kind:
        return None
    del request.session[_SESSION_KEY]
    return Revealed(kind=kind, object_id=int(stashed["id"]), plaintext=str(stashed["plaintext"]))
