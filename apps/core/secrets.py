"""Random secrets shown once and stored as SHA-256 digests with a visible prefix.

SHA-256 (not a slow password hash) is right here: the secrets carry 256 bits
of entropy, so they cannot be guessed, and keys are checked on every ingest
request where a slow hash would cost real CPU.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

PREFIX_LENGTH = 12


@dataclass(frozen=True)
class NewSecret:
    plaintext: str
    prefix: str
    digest: str


def digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def new_secret(kind: str) -> NewSecret:
    """A secret like ``vik_3q0…``; ``kind`` names what it is (``vik`` ingest key, ``vat`` API token)."""
    plaintext = f"{kind}_{secrets.token_urlsafe(32)}"
    return NewSecret(plaintext=plaintext, prefix=plaintext[:PREFIX_LENGTH], digest=digest(plaintext))


def matches(plaintext: str, stored_digest: str) -> bool:
    return hmac.compare_digest(digest(plaintext), stored_digest)
