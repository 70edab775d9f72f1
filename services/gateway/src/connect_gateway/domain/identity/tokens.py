"""API token and session secrets: how they look, and the digest under which they are stored.

A secret is 32 random bytes (from `secrets`, in the handler); the database keeps only its SHA-256. A slow
hash is for passwords people choose; a 256-bit random value cannot be guessed, so a fast digest is enough and
keeps the per-request lookup cheap.
"""

from __future__ import annotations

import hashlib
import re

TOKEN_PREFIX = "cnt_"  # lets secret scanners and people recognise a Connect token
_TOKEN = re.compile(r"cnt_[A-Za-z0-9_-]{43}")
_SESSION = re.compile(r"[A-Za-z0-9_-]{43}")


def digest(secret: str) -> str:
    """The stored form of a token, session id or CSRF token."""
    return hashlib.sha256(secret.encode()).hexdigest()


def token_secret(random_part: str) -> str:
    """The token a user is shown once, from 43 URL-safe characters (`secrets.token_urlsafe(32)`)."""
    return TOKEN_PREFIX + random_part


def looks_like_token(value: str) -> bool:
    """Whether `value` has the shape of an API token (anything else is refused without a lookup)."""
    return _TOKEN.fullmatch(value) is not None


def looks_like_session(value: str) -> bool:
    """Whether `value` has the shape of a session id or CSRF token."""
    return _SESSION.fullmatch(value) is not None
