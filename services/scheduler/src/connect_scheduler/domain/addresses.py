"""Which webhook hosts the scheduler must not call (server-side request forgery): the ones inside the network
it runs in, unless the operator allows them (CONNECT_WEBHOOK_ALLOW_PRIVATE).

A webhook URL is given by a user, and the scheduler posts to it from inside the deployment: a URL naming a
loopback, private, link-local (the cloud metadata service at 169.254.169.254), unique-local, unspecified or
multicast address would let that user reach services no user should. Every address that is not globally
reachable is refused, and multicast too. The rule is checked twice: on the URL's host when a definition is
validated, and on every address its name resolves to when a notification is sent.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address

LOCAL_NAME = "localhost"


def is_forbidden_address(address: IPv4Address | IPv6Address) -> bool:
    """Whether `address` is one a webhook must not reach: not globally reachable, or multicast."""
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return is_forbidden_address(address.ipv4_mapped)  # ::ffff:127.0.0.1 is 127.0.0.1
    return not address.is_global or address.is_multicast


def address_of(text: str) -> IPv4Address | IPv6Address | None:
    """The IP address `text` spells (a trailing dot and an IPv6 zone ignored), or None for a name."""
    try:
        return ip_address(text.rstrip(".").partition("%")[0])
    except ValueError:
        return None


def private_host_problem(host: str) -> str | None:
    """Why webhooks must not go to `host` (an IP literal or a name, as a URL gives it), when they must not."""
    address = address_of(host)
    if address is not None:
        forbidden = is_forbidden_address(address)
        return "must not be a private, loopback, link-local or multicast address" if forbidden else None
    name = host.rstrip(".").lower()
    if name == LOCAL_NAME or name.endswith(f".{LOCAL_NAME}"):
        return "must not name this machine (localhost)"
    return None
