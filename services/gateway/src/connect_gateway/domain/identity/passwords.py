"""The password rule: long enough, not a well-known one, not the user name.

Length does most of the work (NIST SP 800-63B: at least 8, we ask 12); the list catches the passwords that
are long and still guessed first. Hashing is the adapter's (argon2id); this module never sees a hash.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

MIN_LENGTH = 12
# argon2 hashes any length, but a megabyte "password" is a way to burn CPU, not a password.
MAX_LENGTH = 256


@cache
def common_passwords() -> frozenset[str]:
    """The bundled list of common passwords, lower-cased."""
    text = files(__package__).joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def password_problem(password: str, username: str) -> str | None:
    """Why `password` may not be used by `username`; None when it may."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"must be at most {MAX_LENGTH} characters"
    lowered = password.lower()
    if lowered in common_passwords() or _stripped(lowered) in common_passwords():
        return "is one of the most common passwords; choose another"
    if len(set(password)) < 4:
        return "repeats too few different characters"
    if username and username.lower() in lowered:
        return "must not contain the user name"
    return None


def _stripped(lowered: str) -> str:
    """The password without trailing digits and symbols (`password123!` is `password`)."""
    return lowered.rstrip("0123456789!@#$%^&*.?-_ ")
