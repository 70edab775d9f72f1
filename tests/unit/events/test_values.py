"""The shared value rules: hosts an SSH client can reach, text PostgreSQL can store, single-line values."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connect_events.values import (
    FILLED_LINE_PATTERN,
    HOST_PATTERN,
    NO_CONTROL_PATTERN,
    control_problem,
    filled_line_problem,
    host_problem,
    storable_problem,
)

GOOD_HOSTS = ["sftp.example.com", "localhost", "127.0.0.1", "::1", "2001:db8::1", "a-b.c", "x" * 63 + ".io", "host."]
# From the fuzz run of issue 5, and their neighbours.
BAD_HOSTS = [
    "a..b",
    ".",
    "a" * 64,
    "a\u0095",
    "a\u0000b",
    "",
    "-a.com",
    "a-.com",
    "a_b.com",
    "[::1]",
    "1.2.3",
    "999.1.1.1",
]


@pytest.mark.parametrize("host", GOOD_HOSTS)
def test_dns_names_and_ip_literals_are_hosts(host: str) -> None:
    assert host_problem(host) is None


@pytest.mark.parametrize("host", BAD_HOSTS)
def test_what_no_resolver_takes_is_refused_in_words(host: str) -> None:
    problem = host_problem(host)
    assert problem is not None
    assert host not in problem or not host  # the value is never quoted back


def test_a_name_longer_than_dns_allows_is_refused() -> None:
    assert host_problem(".".join(["a" * 63] * 4)) is not None  # 255 characters


# Hosts of every shape: arbitrary text, what the documented pattern admits, and real IP literals.
HOSTS = st.one_of(
    st.text(max_size=80),
    st.from_regex(HOST_PATTERN, fullmatch=True),
    st.ip_addresses().map(str),
)


@given(HOSTS)
def test_every_accepted_host_encodes_for_a_resolver(host: str) -> None:
    if host_problem(host) is None:
        host.encode("idna")  # what socket.getaddrinfo (and so asyncssh) does with it; must not raise


def test_an_ipv6_zone_is_an_interface_name() -> None:
    assert host_problem("fe80::1%eth0") is None
    assert host_problem("fe80::1%" + "a" * 64) is not None  # the resolver's IDNA step refuses the label


@given(HOSTS)
def test_the_documented_pattern_admits_every_accepted_host(host: str) -> None:
    if host_problem(host) is None:
        assert re.fullmatch(HOST_PATTERN.strip("^$"), host)


@given(st.text(max_size=40))
def test_storable_text_encodes_as_utf8_without_nul(text: str) -> None:
    if storable_problem(text) is None:
        assert "\x00" not in text
        text.encode("utf-8")


@pytest.mark.parametrize("text", ["a\x00b", "\ud800", "x\udcff"])
def test_nul_and_lone_surrogates_are_not_storable(text: str) -> None:
    assert storable_problem(text) is not None


@pytest.mark.parametrize(
    "text", ["a\nb", "a\rb", "\x7f", "\x85", "\x1b[31m", "a\u2028b", "a\u2029b", "evil\u202egnp.csv"]
)
def test_single_line_values_refuse_control_characters(text: str) -> None:
    assert control_problem(text) is not None


@given(st.text(max_size=40))
def test_control_rule_agrees_with_its_documented_pattern(text: str) -> None:
    if control_problem(text) is None:
        assert re.fullmatch(NO_CONTROL_PATTERN.strip("^$"), text)


@pytest.mark.parametrize("text", ["", " ", "\t "])
def test_a_filled_line_is_not_blank(text: str) -> None:
    assert filled_line_problem(text) is not None
    assert not re.fullmatch(FILLED_LINE_PATTERN, text)


@given(st.text(max_size=40))
def test_filled_line_rule_agrees_with_its_documented_pattern(text: str) -> None:
    assert (filled_line_problem(text) is None) == bool(re.fullmatch(FILLED_LINE_PATTERN, text))


def test_tabs_and_ordinary_unicode_are_fine_on_one_line() -> None:
    assert control_problem("Büro\tÜbersicht — 東京") is None
    assert control_problem("\u05e9\u05dd\u200f") is None  # a right-to-left mark in a Hebrew header is fine
