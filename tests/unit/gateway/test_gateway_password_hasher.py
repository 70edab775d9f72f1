"""Password hashing: argon2id, re-hashed when the settings ask for more, and a damaged hash matches nothing."""

from __future__ import annotations

import pytest

from connect_gateway.adapters.passwords import Argon2PasswordHasher
from tests.unit.gateway.identity_fake import FastHasher

PASSWORD = "a long enough test password"


def test_a_hash_verifies_its_password_only() -> None:
    hasher = FastHasher()
    hashed = hasher.hash(PASSWORD)
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    assert hasher.hash(PASSWORD) != hashed, "salted"
    assert hasher.verify(PASSWORD, hashed) == (True, None)
    assert hasher.verify(PASSWORD + "!", hashed) == (False, None)


def test_a_hash_with_weaker_parameters_is_replaced_at_login() -> None:
    hashed = FastHasher().hash(PASSWORD)
    stronger = Argon2PasswordHasher(time_cost=2, memory_kib=8192)
    ok, rehashed = stronger.verify(PASSWORD, hashed)
    assert ok and rehashed is not None and "t=2" in rehashed
    assert stronger.verify(PASSWORD, rehashed) == (True, None)
    assert stronger.verify("wrong password here", hashed) == (False, None), "no re-hash for a wrong password"


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "not a hash",
        "$2b$12$abcdefghijklmnopqrstuuJ5rVn3bsl3y3Zk8m6vWm0Yt1fG2J9G",  # bcrypt: not ours
        "$argon2id$v=19$m=8192,t=1,p=4$c2FsdA$",  # truncated
        "$argon2id$v=19$m=8192,t=1,p=4$***$***",
    ],
)
def test_a_damaged_stored_hash_matches_nothing(stored: str) -> None:
    assert FastHasher().verify(PASSWORD, stored) == (False, None)
