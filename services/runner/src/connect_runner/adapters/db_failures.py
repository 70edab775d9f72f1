"""Database errors during a run, in the runner's own words.

PostgreSQL's messages quote values and names (`invalid byte sequence for encoding "UTF8": 0x00`); they are
for operators, who find them in the runner's log. Users get a sentence chosen by the error's SQLSTATE (the
exact code, else its class), naming the target table at most.

A lost connection (class 08 but a protocol violation, or a socket that closed without a server error) and a
server that is shutting down, restarting or out of connections are transient (`RunFailure.transient`): the
job's retry policy may try again. Nothing else is: a constraint, a value, a changed table or a full disk would
fail again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import asyncpg

from connect_events import FailureCode
from connect_runner.domain.failures import RunFailure

LOST = "the runner lost its connection to the database"
LOST_CLASS = "08"
PROTOCOL_VIOLATION = "08P01"  # in the connection class, but a bug on one side: it would happen again
# Server unavailable: admin shutdown, crash shutdown, cannot connect now, too many connections.
UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03", "53300"})
CONFLICT = "the load conflicted with another transaction writing to '{table}'; running the job again should work"

BY_STATE: Mapping[str, tuple[FailureCode, str]] = {
    "42P01": ("TARGET_MISSING", "the table '{table}' was dropped or renamed while the run was loading it"),
    "55P03": ("LOAD_FAILED", "another transaction held a lock on '{table}' that the load needed"),
    "57014": ("LOAD_FAILED", "the database cancelled the load (a statement timeout, or an operator)"),
    "53100": ("LOAD_FAILED", "the database ran out of disk space during the load"),
    "53200": ("LOAD_FAILED", "the database ran out of memory during the load"),
    "53300": ("LOAD_FAILED", "the database had no connection left for the load"),
    "22021": ("LOAD_FAILED", "the file holds characters the database cannot store"),
    "22P05": ("LOAD_FAILED", "the file holds characters the database cannot store"),
}
BY_CLASS: Mapping[str, str] = {
    LOST_CLASS: LOST,
    "22": "a value could not be stored in '{table}'",
    "23": "the table '{table}' refused rows: it has a constraint the table's definition in Connect does not know",
    "40": CONFLICT,
    "42": "the table '{table}' no longer matches its definition in Connect (it was changed outside Connect)",
    "53": "the database ran out of resources during the load",
    "54": "the load exceeds a limit of the database (a value or a row too large)",
    "57": "the database shut down or restarted during the load",
    "XX": "the database failed internally during the load",
}
FALLBACK = "the database refused the load (SQLSTATE {state})"
UNKNOWN = "the database refused the load"
SQLSTATE = re.compile(r"[0-9A-Z]{5}")


def database_failure(exc: asyncpg.PostgresError, table: str) -> RunFailure:
    """The failure a server error means, by its SQLSTATE; the server's message is not passed on."""
    state = str(getattr(exc, "sqlstate", "") or "")
    if not SQLSTATE.fullmatch(state):
        return RunFailure("LOAD_FAILED", UNKNOWN)
    transient = state in UNAVAILABLE_STATES or (state.startswith(LOST_CLASS) and state != PROTOCOL_VIOLATION)
    if state in BY_STATE:
        code, sentence = BY_STATE[state]
        return RunFailure(code, sentence.format(table=table), transient=transient)
    sentence = BY_CLASS.get(state[:2], FALLBACK)
    return RunFailure("LOAD_FAILED", sentence.format(table=table, state=state), transient=transient)


def connection_lost() -> RunFailure:
    """The connection broke without a server error (asyncpg's `InterfaceError`, a reset socket)."""
    return RunFailure("LOAD_FAILED", LOST, transient=True)
