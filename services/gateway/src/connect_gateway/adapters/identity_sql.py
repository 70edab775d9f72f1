"""The identity database: its tables and the named queries of `PgIdentityStore`.

Secrets are stored only as what the gateway compares against: argon2id password hashes and SHA-256 digests
of tokens, session ids and CSRF tokens. Users are never deleted (disabled instead), so a token's or a
session's user always exists.
"""

from __future__ import annotations

from connect_runtime.outbox import OUTBOX_DDL

IDENTITY_DDL = (
    """
CREATE TABLE IF NOT EXISTS users (
    username      text        PRIMARY KEY,
    role          text        NOT NULL,
    enabled       boolean     NOT NULL,
    version       integer     NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL,
    created_by    text        NOT NULL,
    updated_at    timestamptz NOT NULL,
    updated_by    text        NOT NULL,
    last_login_at timestamptz
);
CREATE TABLE IF NOT EXISTS tokens (
    token_id     text        PRIMARY KEY,
    username     text        NOT NULL REFERENCES users (username),
    name         text        NOT NULL,
    digest       text        NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL,
    created_by   text        NOT NULL,
    expires_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz
);
CREATE INDEX IF NOT EXISTS tokens_by_user ON tokens (username, created_at DESC);
CREATE TABLE IF NOT EXISTS sessions (
    digest       text        PRIMARY KEY,
    username     text        NOT NULL REFERENCES users (username),
    csrf_digest  text        NOT NULL,
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (username);
CREATE TABLE IF NOT EXISTS login_failures (
    subject           text        PRIMARY KEY,
    count             integer     NOT NULL,
    window_started_at timestamptz NOT NULL,
    locked_until      timestamptz
);
"""
    + OUTBOX_DDL
)

PING = "SELECT 1"

# One identity change at a time per database: what a change reads (its user, the count of enabled admins)
# cannot move before it commits, without row locks that two changes of two admins could take in opposite
# orders (a deadlock). Identity changes are rare admin actions, so queueing them costs nothing that matters;
# logins and requests never take this lock. The version compare-and-set stays as the last guard.
CHANGE_LOCK_ID = 7_100_002
LOCK_CHANGES = "SELECT pg_advisory_xact_lock($1)"

LOAD_USER = "SELECT role, enabled, version FROM users WHERE username = $1"
# Expired tokens count as revoked: revoking one is an accepted no-op, and it no longer counts as active.
LOAD_TOKENS = "SELECT token_id, revoked_at IS NULL AND expires_at > now() AS active FROM tokens WHERE username = $1"
COUNT_ENABLED_ADMINS = "SELECT count(*) FROM users WHERE role = $1 AND enabled"

INSERT_USER = """
INSERT INTO users (username, role, enabled, version, password_hash, created_at, created_by, updated_at, updated_by)
VALUES ($1, $2, true, $3, $4, $5, $6, $5, $6)
"""
# Every event bumps the version, compare-and-set on the one the event was decided on ($2).
_BUMP = "UPDATE users SET version = $3, updated_at = $4, updated_by = $5{extra} WHERE username = $1 AND version = $2"
BUMP_VERSION = _BUMP.format(extra="")
CHANGE_ROLE = _BUMP.format(extra=", role = $6")
DISABLE_USER = _BUMP.format(extra=", enabled = false")
ENABLE_USER = _BUMP.format(extra=", enabled = true")
CHANGE_PASSWORD = _BUMP.format(extra=", password_hash = $6")
END_USER_SESSIONS = "DELETE FROM sessions WHERE username = $1"
INSERT_TOKEN = """
INSERT INTO tokens (token_id, username, name, digest, created_at, created_by, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
REVOKE_TOKEN = "UPDATE tokens SET revoked_at = $3 WHERE token_id = $1 AND username = $2 AND revoked_at IS NULL"

_USER_COLUMNS = "username, role, enabled, version, created_at, created_by, updated_at, updated_by, last_login_at"
GET_USER = f"SELECT {_USER_COLUMNS} FROM users WHERE username = $1"
# Code-point order, whatever the collation the database was created with: "by name" is the same on every server.
LIST_USERS = f'SELECT {_USER_COLUMNS} FROM users ORDER BY username COLLATE "C"'
GET_PASSWORD_HASH = f"SELECT {_USER_COLUMNS}, password_hash FROM users WHERE username = $1"
SET_PASSWORD_HASH = "UPDATE users SET password_hash = $3 WHERE username = $1 AND password_hash = $2"

_TOKEN_COLUMNS = "token_id, username, name, created_at, created_by, expires_at, last_used_at, revoked_at"
GET_TOKEN = f"SELECT {_TOKEN_COLUMNS} FROM tokens WHERE token_id = $1"
LIST_TOKENS = f"""
SELECT {_TOKEN_COLUMNS} FROM tokens WHERE $1::text IS NULL OR username = $1
ORDER BY created_at DESC, token_id DESC
"""
# One round trip per request: the lookup, and the touch of `last_used_at` when it is older than $3 seconds
# (a write per request would turn every read into a write).
TOKEN_PRINCIPAL = """
WITH found AS (
    SELECT t.token_id, t.last_used_at, u.username, u.role
    FROM tokens t JOIN users u ON u.username = t.username
    WHERE t.digest = $1 AND t.revoked_at IS NULL AND t.expires_at > $2 AND u.enabled
), touched AS (
    UPDATE tokens t SET last_used_at = $2 FROM found
    WHERE t.token_id = found.token_id
      AND (found.last_used_at IS NULL OR found.last_used_at <= $2 - make_interval(secs => $3))
)
SELECT token_id, username, role FROM found
"""

INSERT_SESSION = """
INSERT INTO sessions (digest, username, csrf_digest, created_at, last_seen_at) VALUES ($1, $2, $3, $4, $4)
"""
RECORD_LOGIN = "UPDATE users SET last_login_at = $2 WHERE username = $1"
FIND_SESSION = """
SELECT s.csrf_digest, s.created_at, s.last_seen_at, u.username, u.role
FROM sessions s JOIN users u ON u.username = s.username
WHERE s.digest = $1 AND u.enabled
"""
TOUCH_SESSION = "UPDATE sessions SET last_seen_at = $2 WHERE digest = $1 AND last_seen_at < $2"
END_SESSION = "DELETE FROM sessions WHERE digest = $1"

GET_FAILURES = "SELECT subject, count, window_started_at, locked_until FROM login_failures WHERE subject = ANY($1)"
# A first failure has no row to lock; a placeholder of no failures gives concurrent first failures one row
# to queue on, so neither count is lost.
ENSURE_FAILURE_ROW = """
INSERT INTO login_failures (subject, count, window_started_at) VALUES ($1, 0, $2) ON CONFLICT (subject) DO NOTHING
"""
LOCK_FAILURES = "SELECT count, window_started_at, locked_until FROM login_failures WHERE subject = $1 FOR UPDATE"
SET_FAILURES = "UPDATE login_failures SET count = $2, window_started_at = $3, locked_until = $4 WHERE subject = $1"
CLEAR_FAILURES = "DELETE FROM login_failures WHERE subject = $1"
TAKE_BACK_ATTEMPT = "UPDATE login_failures SET count = greatest(count - 1, 0) WHERE subject = $1"
