"""Rules for values that travel in commands and events: what every store can hold and every peer can use.

The gateway checks requests against these (422 naming the field) and the scheduler checks commands against
them again (a command may come from any producer of the topic), so both refuse the same values with the
same words. Each function returns a problem in plain words, or None when the value is fine; none of them
ever quotes the value, which may be long, binary or secret.
"""

from __future__ import annotations

import ipaddress
import re

MAX_HOST_LENGTH = 253  # RFC 1035: a full domain name in text form, without the root's trailing dot
MAX_LABEL_LENGTH = 63

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}\.?")
# For documents (JSON Schema, OpenAPI): a DNS name (IPv4 addresses are names of digits here), or an IPv6
# literal, which always holds a colon. `host_problem` is the exact rule (label lengths, total length, an
# all-numeric name must be a valid IPv4 address); every host it accepts matches this pattern.
HOST_PATTERN = rf"^(?:(?:{_LABEL}\.)*{_LABEL}\.?|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(?:%[A-Za-z0-9_.-]{{1,15}})?)$"
# For documents: text without NUL, other control characters, line separators or the bidirectional embedding,
# override and isolate controls, which make a value display as something else (tab excepted).
_CONTROL_CHARS = r"\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069"
NO_CONTROL_PATTERN = rf"^[^{_CONTROL_CHARS}]*$"
# For documents: text PostgreSQL can store (no NUL); unpaired surrogates cannot be written in a pattern, the
# check refuses them.
STORABLE_PATTERN = r"^[^\u0000]*$"
# The same, and not blank: at least one character that is not white space.
FILLED_LINE_PATTERN = rf"^[^{_CONTROL_CHARS}]*[^\s{_CONTROL_CHARS}][^{_CONTROL_CHARS}]*$"

# Spec §7.1: a job name is 1-100 characters from A-Z a-z 0-9, space and ! - = @ _ [ ] { }, not only spaces.
_NAME_CHAR = r"A-Za-z0-9!\-=@_\[\]{}"
JOB_NAME_PATTERN = rf"^[ {_NAME_CHAR}]*[{_NAME_CHAR}][ {_NAME_CHAR}]*$"
MAX_JOB_NAME_LENGTH = 100
JOB_NAME_RULE = "only letters, digits, spaces and ! - = @ _ [ ] { } are allowed"
# Table and column names: PostgreSQL truncates identifiers beyond 63 bytes; ASCII keeps bytes == characters.
IDENTIFIER_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,62}$"
# Column sizes a table definition may use (PostgreSQL's varchar and numeric limits, kept portable).
MAX_TEXT_LENGTH = 65535
MAX_PRECISION = 38
IDENTIFIER_RULE = "must start with a letter and hold at most 63 letters, digits or underscores"
# User names are the users' ids in every event's `actor`: lower case, so one person cannot exist twice by case.
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9._@-]{0,63}$"
USERNAME_RULE = "must be 1 to 64 lower-case letters, digits or . _ @ -, starting with a letter or digit"

# A zone, if any, is an interface name: letters and digits, at most 15 (Linux's IFNAMSIZ less its NUL).
_IPV6 = re.compile(r"[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]{1,15})?")
# Unicode's control characters (category Cc) but tab, U+2028/U+2029 (line breaks to every Unicode reader), and
# the bidirectional controls that reorder how a value is shown.
_CONTROL = re.compile(f"[{_CONTROL_CHARS}]")
_JOB_NAME = re.compile(JOB_NAME_PATTERN)
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
_USERNAME = re.compile(USERNAME_PATTERN)

REPLACEMENT_CHARACTER = "\ufffd"
# In a Python str every surrogate is unpaired: a valid pair is one code point, never two surrogates.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

STORABLE = "must not contain NUL characters or unpaired surrogates"
CONTROL = "must not contain control characters (line breaks, NUL and the like)"
BLANK = "must not be blank"
HOST = "must be a DNS name (letters, digits and hyphens, labels separated by dots) or an IP address"


def storable_problem(text: str) -> str | None:
    """Why `text` cannot be stored in PostgreSQL or encoded as UTF-8 (NUL, unpaired surrogates)."""
    if "\x00" in text:
        return STORABLE
    if not text.isascii():  # O(1) in CPython: the common case skips the scan below
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return STORABLE
    return None


def storable_text(text: str) -> str:
    """`text` as every store can hold it: NUL and unpaired surrogates replaced by U+FFFD (which says that
    something unreadable stood there); `text` itself when it already is."""
    return text if storable_problem(text) is None else _UNSTORABLE.sub(REPLACEMENT_CHARACTER, text)


def control_problem(text: str) -> str | None:
    """Why `text` is unfit for a single-line value (name, path, user): control characters, NUL included."""
    problem = storable_problem(text)
    if problem is not None:
        return problem
    return CONTROL if _CONTROL.search(text) else None


def filled_line_problem(text: str) -> str | None:
    """Why `text` is unfit for a single-line value that must say something (a user, a path, a column)."""
    return control_problem(text) or (BLANK if not text.strip() else None)


def job_name_problem(name: str) -> str | None:
    """The job-name rule of spec §7.1; uniqueness needs the other jobs and is the scheduler's to check."""
    if problem := control_problem(name):
        return problem
    if not name.strip():
        return "a job needs a name"
    if len(name) > MAX_JOB_NAME_LENGTH:
        return f"must be at most {MAX_JOB_NAME_LENGTH} characters"
    return None if _JOB_NAME.fullmatch(name) else JOB_NAME_RULE


def identifier_problem(name: str) -> str | None:
    """Why `name` cannot name a table or a column."""
    if problem := control_problem(name):
        return problem
    return None if _IDENTIFIER.fullmatch(name) else IDENTIFIER_RULE


def username_problem(name: str) -> str | None:
    """Why `name` cannot be a user name."""
    if problem := control_problem(name):
        return problem
    return None if _USERNAME.fullmatch(name) else USERNAME_RULE


def host_problem(host: str) -> str | None:
    """Why `host` is not a DNS name or an IP literal an SSH client can connect to."""
    if problem := control_problem(host):
        return problem
    if not host or not host.isascii():
        return HOST if host else "is required"
    if host.startswith("[") and host.endswith("]"):
        return "give an IPv6 address without brackets (e.g. 2001:db8::1)"
    if len(host.rstrip(".")) > MAX_HOST_LENGTH:
        return f"must be at most {MAX_HOST_LENGTH} characters"
    if ":" in host:
        return None if _IPV6.fullmatch(host) and _is_ip(host) else "is not a valid IPv6 address"
    if not _DNS_NAME.fullmatch(host):
        return HOST
    last = host.rstrip(".").rsplit(".", 1)[-1]
    if last.isdigit() and not _is_ip(host.rstrip(".")):
        return "is not a valid IPv4 address"
    return None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
