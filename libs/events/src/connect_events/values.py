"""Rules for values that travel in commands and events: what every store can hold and every peer can use.

The gateway checks requests against these (422 naming the field) and the scheduler checks commands against
them again (a command may come from any producer of the topic), so both refuse the same values with the
same words. Each function returns a problem in plain words, or None when the value is fine; none of them
ever quotes the value, which may be long, binary or secret.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata

MAX_HOST_LENGTH = 253  # RFC 1035: a full domain name in text form, without the root's trailing dot
MAX_LABEL_LENGTH = 63

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}\.?")
# For documents (JSON Schema, OpenAPI): a DNS name, or characters of an IP literal. `host_problem` is the
# exact rule (label lengths, total length, an all-numeric name must be a valid IPv4 address).
HOST_PATTERN = rf"^(?:(?:{_LABEL}\.)*{_LABEL}\.?|[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?)$"
# For documents: text without NUL and without other control characters (tab excepted).
NO_CONTROL_PATTERN = r"^[^\u0000-\u0008\u000a-\u001f\u007f-\u009f]*$"

STORABLE = "must not contain NUL characters or unpaired surrogates"
CONTROL = "must not contain control characters (line breaks, NUL and the like)"
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


def control_problem(text: str) -> str | None:
    """Why `text` is unfit for a single-line value (name, path, user): control characters, NUL included."""
    problem = storable_problem(text)
    if problem is not None:
        return problem
    if any(unicodedata.category(c) == "Cc" and c != "\t" for c in text):
        return CONTROL
    return None


def host_problem(host: str) -> str | None:
    """Why `host` is not a DNS name or an IP literal an SSH client can connect to."""
    if not host or not host.isascii():
        return HOST if host else "is required"
    if host.startswith("[") and host.endswith("]"):
        return "an IPv6 address is given without brackets (e.g. 2001:db8::1)"
    if ":" in host:
        return None if _is_ip(host) else "is not a valid IPv6 address"
    if len(host.rstrip(".")) > MAX_HOST_LENGTH:
        return f"must be at most {MAX_HOST_LENGTH} characters"
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
