"""Password hashing with argon2id (pwdlib), as the gateway's `PasswordHasher`.

A stored hash made with weaker parameters than the current ones still verifies, and `verify` then returns
a new hash for the login to store: raising the cost in the settings upgrades every account at its next login.
"""

from __future__ import annotations

from argon2.exceptions import Argon2Error
from pwdlib import PasswordHash
from pwdlib.exceptions import PwdlibError
from pwdlib.hashers.argon2 import Argon2Hasher


class Argon2PasswordHasher:
    """argon2id with `time_cost` passes over `memory_kib` KiB; calls block for that long (run them in a thread)."""

    def __init__(self, time_cost: int, memory_kib: int) -> None:
        self._hash = PasswordHash((Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib),))

    def hash(self, password: str) -> str:
        """A new salted hash of `password`."""
        return self._hash.hash(password)

    def verify(self, password: str, hashed: str) -> tuple[bool, str | None]:
        """Whether `password` matches `hashed`, and a re-hash when `hashed` used other parameters.

        A stored value that is no argon2 hash (damaged, or from elsewhere) matches no password: (False, None),
        never an exception, so a broken row cannot turn a login into a 500.
        """
        try:
            return self._hash.verify_and_update(password, hashed)
        except (PwdlibError, Argon2Error, ValueError):
            return False, None
