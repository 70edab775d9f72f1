"""The value rules of profile imports: e-mail syntax, mobile numbers, permission and format mapping, hashes."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumberFormat, PhoneNumberType, ValidationResult

from connect_events.definitions import Channel, EmailFormatMapping, PermissionMapping
from connect_runner.domain.profile_values import (
    HASH_KINDS,
    HashKind,
    empty_channels,
    format_reader,
    hash_of,
    map_email_format,
    map_permission,
    normalize_email,
    normalize_hash,
    normalize_mobile,
    permission_reader,
)

# E-mail addresses


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("John.Doe@Example.COM", "john.doe@example.com"),
        ("  a@b.co \t", "a@b.co"),
        ("o'brien+news@mail.example.org", "o'brien+news@mail.example.org"),
        ("x!#$%&*/=?^_`{|}~-@a-1.b2.example", "x!#$%&*/=?^_`{|}~-@a-1.b2.example"),
        ("user@xn--mnchen-3ya.de", "user@xn--mnchen-3ya.de"),
        ("user@example.xn--p1ai", "user@example.xn--p1ai"),
        ("user@München.de", "user@münchen.de"),  # U-labels are accepted
        ("info@пример.рф", "info@пример.рф"),
        ("info@भारत.भारत", "info@भारत.भारत"),  # marks inside a label
        (f"{'l' * 64}@{'d' * 63}.com", f"{'l' * 64}@{'d' * 63}.com"),
        (f"a@{'d' * 63}.{'e' * 63}.{'f' * 63}.{'g' * 56}.com", f"a@{'d' * 63}.{'e' * 63}.{'f' * 63}.{'g' * 56}.com"),
    ],
)
def test_an_address_of_the_strict_form_is_stored_trimmed_and_lower_cased(text: str, stored: str) -> None:
    assert normalize_email(text, "strict") == stored
    assert normalize_email(text, "basic") == stored


@pytest.mark.parametrize(
    "text",
    [
        "",
        "plainaddress",
        "a@b",  # no top-level domain
        "a@b.c",  # a one-letter top-level domain
        "a@b.c0m",  # digits in the top-level domain
        "a@b.xn--",
        ".a@b.com",
        "a.@b.com",
        "a..b@c.com",
        '"quoted"@example.com',
        "a@[192.0.2.1]",
        "a@-b.com",
        "a@b-.com",
        "a@b..com",
        "a@.b.com",
        "a@b.com.",
        "a@b_c.com",
        "пользователь@example.com",  # the local part stays ASCII
        "a@bü-.de",
        "a@-bü.de",
        "a@\u0301b.de",  # a U-label starting with a combining mark
        "a@b\u3002de",  # an ideographic full stop is no dot
        "a@例え.jp1",
        "a@b.рф1",
        "a@例え.中",  # a one-letter top-level domain in any script
        f"{'l' * 65}@example.com",
        f"a@{'d' * 64}.com",
        f"a@{'d' * 63}.{'e' * 63}.{'f' * 63}.{'g' * 57}.com",  # 255 characters
    ],
)
def test_an_address_not_of_the_strict_form_is_refused_in_strict_mode(text: str) -> None:
    assert normalize_email(text, "strict") is None


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("пользователь@пример.рф", "пользователь@пример.рф"),
        ('"Quoted"@Example.com', '"quoted"@example.com'),
        ("a..b@c.d", "a..b@c.d"),
        ("a@b.c", "a@b.c"),
        ("a@b..c", "a@b..c"),
    ],
)
def test_basic_mode_wants_one_at_sign_and_a_dot_in_the_domain(text: str, stored: str) -> None:
    assert normalize_email(text, "basic") == stored


@pytest.mark.parametrize(
    "text",
    [
        *("", "a", "a@b", "@b.com", "a@", "a@.com", "a@com.", "a@b@c.com", "a b@c.com", "a@b c.com"),
        *("a\x00@b.com", "a@b\n.com", f"a@{'b' * 250}.com"),
    ],
)
def test_basic_mode_refuses_what_is_no_address_at_all(text: str) -> None:
    assert normalize_email(text, "basic") is None


_ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+/=?^_`{|}~-"
_atoms = st.text(_ATEXT, min_size=1, max_size=12)
_labels = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,20}[A-Za-z0-9])?", fullmatch=True)
_u_labels = st.text("abcäöüßéñøåçпримерфмюнхен0123456789", min_size=1, max_size=12)
strict_addresses = st.builds(
    lambda local, labels, top, pad: f"{pad}{'.'.join(local)}@{'.'.join(labels)}.{top}{pad}",
    st.lists(_atoms, min_size=1, max_size=4),
    st.lists(st.one_of(_labels, _u_labels), min_size=1, max_size=4),
    st.one_of(st.from_regex(r"[A-Za-z]{2,10}", fullmatch=True), st.sampled_from(["рф", "中国", "xn--p1ai"])),
    st.sampled_from(["", " ", "\t "]),
)


@given(strict_addresses)
def test_every_address_built_of_the_strict_parts_is_accepted_in_both_modes(text: str) -> None:
    stored = normalize_email(text, "strict")
    assert stored == text.strip().lower()
    assert normalize_email(text, "basic") == stored


@settings(max_examples=300)
@given(st.one_of(strict_addresses, st.text(max_size=40), st.builds("{}@{}".format, st.text(), st.text())))
def test_what_strict_accepts_basic_accepts_and_normalising_is_idempotent(text: str) -> None:
    strict = normalize_email(text, "strict")
    basic = normalize_email(text, "basic")
    if strict is not None:
        assert basic == strict
    for stored, mode in ((strict, "strict"), (basic, "basic")):
        if stored is not None:
            assert normalize_email(stored, mode) == stored  # type: ignore[arg-type]


# Mobile numbers

REGIONS = (
    *("GB", "US", "CA", "DE", "FR", "IT", "ES", "NL", "AU", "IN", "JP", "BR", "RU", "KZ", "AR", "JE", "GG"),
    *("IM", "PR", "GP", "BY", "MX", "CN", "ZA", "NG"),
)


def example_mobile(region: str) -> phonenumbers.PhoneNumber:
    number = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    assert number is not None
    return number


@pytest.mark.parametrize("region", REGIONS)
def test_a_mobile_written_internationally_in_any_way_reads_as_e164_with_its_region(region: str) -> None:
    number = example_mobile(region)
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    placed = phonenumbers.region_code_for_number(number)  # the Isle of Man's example is also a valid British one
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    for written in (international, e164, "00" + e164[1:], e164[1:], f"({e164[:3]}) {e164[3:]}"):
        assert normalize_mobile(written, "e164", None) == (e164, placed)
        if written.startswith("+"):
            assert normalize_mobile(written, "local", "FR") == (e164, placed)  # `+` is never local


@pytest.mark.parametrize("region", REGIONS)
def test_a_mobile_written_nationally_reads_as_in_its_country(region: str) -> None:
    number = example_mobile(region)
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    assert normalize_mobile(national, "local", region.lower()) == (
        phonenumbers.format_number(number, PhoneNumberFormat.E164),
        phonenumbers.region_code_for_number(number),
    )


@pytest.mark.parametrize(
    ("text", "country", "read"),
    [
        ("07400 123456", "GB", ("+447400123456", "GB")),
        ("7400 123456", "GB", ("+447400123456", "GB")),  # without its trunk 0
        ("00 49 151 12345678", "GB", ("+4915112345678", "DE")),  # the international prefix of the country
        ("011 44 7400 123456", "US", ("+447400123456", "GB")),
        ("(415) 555-2671", "US", ("+14155552671", "US")),
        ("1 415 555 2671", "US", ("+14155552671", "US")),
        ("8 (916) 123-45-67", "RU", ("+79161234567", "RU")),
        ("011 15-2345-6789", "AR", ("+5491123456789", "AR")),  # the mobile 15 rewritten
        ("3123456789", "IT", ("+393123456789", "IT")),  # no trunk prefix in Italy
        ("800 123-45-67", "RU", ("+78001234567", "RU")),  # an 8 that is no trunk prefix: too short without it
        ("06 12 34 56 78", "FR", ("+33612345678", "FR")),
        ("0 6.12.34.56.78", "FR", ("+33612345678", "FR")),
    ],
)
def test_local_mode_dials_from_its_country(text: str, country: str, read: tuple[str, str]) -> None:
    assert normalize_mobile(text, "local", country) == read


@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("+44 (0)7400 123456", ("+447400123456", "GB")),  # the trunk 0 written after the country code
        ("0049 (0)151 12345678", ("+4915112345678", "DE")),
        ("+44\u00a07400\u00a0123456", ("+447400123456", "GB")),
        ("+39 06 1234 5678", ("+390612345678", "IT")),  # Italian numbers keep their 0
        ("+44 7700 900123", ("+447700900123", "GB")),  # possible, though in no range: the code's main country
        ("+1 268 464 1234", ("+12684641234", "AG")),
        ("+7 701 123 4567", ("+77011234567", "KZ")),
    ],
)
def test_e164_mode_reads_the_country_code_from_the_number(text: str, read: tuple[str, str]) -> None:
    assert normalize_mobile(text, "e164", None) == read


@pytest.mark.parametrize(
    ("text", "mode", "country"),
    [
        ("", "e164", None),
        ("+", "e164", None),
        ("++447400123456", "e164", None),
        ("+44 12", "e164", None),
        ("+1234", "e164", None),  # fewer than 6 digits
        ("+4474001234567890", "e164", None),  # more than 15 digits
        ("+44 7400 1234567", "e164", None),  # 11 national digits: no British number has them
        ("+1 555 2671", "e164", None),  # 7 digits: dialled only locally in North America
        ("+800 1234 5678", "e164", None),  # a non-geographic code has no country
        ("+999 1234 5678", "e164", None),  # no such country code
        ("07400 123456", "e164", None),  # no country code starts with 0
        ("+44 7400 12345a", "e164", None),
        ("+44/7400/123456", "e164", None),
        ("+٤٤٧٤٠٠١٢٣٤٥٦", "e164", None),  # digits of another script
        ("07400 123456", "local", None),  # no country to dial from
        ("07400 123456", "local", "XX"),
        ("07400 123456", "local", "001"),
        ("00 0123 456789", "local", "GB"),  # dialled abroad, but no country code starts with 0
        ("074001234567", "local", "GB"),  # too long even without its trunk 0
    ],
)
def test_what_is_no_possible_number_is_refused(text: str, mode: str, country: str | None) -> None:
    assert normalize_mobile(text, mode, country) is None  # type: ignore[arg-type]


CALLING_CODES = (1, 7, 44, 39, 47, 61, 212, 262, 290, 358, 590, 599, 33, 49, 86, 91, 380, 998)


@st.composite
def national_numbers(draw: st.DrawFn) -> tuple[int, str]:
    """A calling code and national digits of a length its main country's numbers can have (or one more)."""
    code = draw(st.sampled_from(CALLING_CODES))
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(phonenumbers.region_code_for_country_code(code))
    assert metadata is not None and metadata.general_desc is not None
    length = draw(st.sampled_from(metadata.general_desc.possible_length)) + draw(st.sampled_from((0, 0, 0, 1)))
    return code, draw(st.from_regex(rf"[1-9][0-9]{{{length - 1}}}", fullmatch=True))


@settings(max_examples=400)
@given(national_numbers())
def test_a_number_reads_as_phonenumbers_places_it(number: tuple[int, str]) -> None:
    code, national = number
    parsed = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    possible = phonenumbers.is_possible_number_with_reason(parsed) is ValidationResult.IS_POSSIBLE
    region = phonenumbers.region_code_for_number(parsed) or phonenumbers.region_code_for_country_code(code)
    expected = (f"+{code}{national}", region) if possible and len(f"{code}{national}") <= 15 else None
    written = phonenumbers.format_number(parsed, PhoneNumberFormat.INTERNATIONAL)
    assert normalize_mobile(written, "e164", None) == expected
    assert normalize_mobile(f"00{code}{national}", "e164", None) == expected


@settings(max_examples=300)
@given(st.sampled_from(REGIONS), st.from_regex("[0-9]{4}", fullmatch=True))
def test_a_local_number_reads_as_the_same_number_written_internationally(region: str, last: str) -> None:
    example = example_mobile(region)
    number = phonenumbers.parse(f"+{example.country_code}{str(example.national_number)[:-4]}{last}")
    assume(phonenumbers.is_valid_number(number))
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    read = normalize_mobile(international, "e164", None)
    assert read is not None
    assert read[0] == phonenumbers.format_number(number, PhoneNumberFormat.E164)
    assert normalize_mobile(national, "local", region) == read
    assert normalize_mobile(read[0], "e164", None) == read  # E.164 reads as itself


# Permission and e-mail format


@pytest.mark.parametrize(
    ("value", "read"),
    [
        *(("1", "I"), (" yes ", "I"), ("YES", "I"), ("0", "O"), ("No", "O")),
        *((None, "I"), ("", "I"), ("  ", "I"), ("maybe", "I"), ("both", "O")),
    ],
)
def test_permission_values_map_to_i_or_o_and_others_to_the_default(value: str | None, read: str) -> None:
    mapping = PermissionMapping(opt_in=("1", "Yes", "both"), opt_out=("0", "NO ", "both"), default="I")
    assert map_permission(value, mapping) == read
    assert permission_reader(mapping)(value) == read


def test_without_settings_i_and_o_map_and_the_default_is_opt_out() -> None:
    read = permission_reader(PermissionMapping())
    assert [read(value) for value in ("I", "i", "O", "o", "", None, "X")] == ["I", "I", "O", "O", "O", "O", "O"]


@settings(max_examples=300)
@given(
    st.lists(st.text(max_size=5), max_size=4),
    st.lists(st.text(max_size=5), max_size=4),
    st.sampled_from(["I", "O"]),
    st.one_of(st.none(), st.text(max_size=6)),
)
def test_permission_mapping_is_total(opt_in: list[str], opt_out: list[str], default: str, value: str | None) -> None:
    mapping = PermissionMapping(opt_in=tuple(opt_in), opt_out=tuple(opt_out), default=default)
    read = map_permission(value, mapping)
    assert read in ("I", "O")
    key = None if value is None else value.strip().casefold()
    listed_in = {item.strip().casefold() for item in opt_in} - {""}
    listed_out = {item.strip().casefold() for item in opt_out} - {""}
    if key in listed_out:
        assert read == "O"
    elif key in listed_in:
        assert read == "I"
    else:
        assert read == default


@pytest.mark.parametrize(
    ("value", "read"), [("html", "H"), (" HTML", "H"), ("1", "H"), ("text", "T"), ("T", "T"), ("", "T"), ("x", "T")]
)
def test_email_format_values_map_to_h_or_t_and_others_to_the_default(value: str, read: str) -> None:
    mapping = EmailFormatMapping(html=("html", "1"), text=("Text", "t"), default="T")
    assert map_email_format(value, mapping) == read
    assert format_reader(mapping)(value) == read


def test_an_email_format_value_listed_for_both_is_text() -> None:
    assert map_email_format("x", EmailFormatMapping(html=("x",), text=("X",))) == "T"


# Channels and hashes


@pytest.mark.parametrize(
    ("values", "wanted", "empty"),
    [
        ({"E": "a@b.co", "M": None, "P": "1 Main St"}, ("E", "M"), "M"),
        ({"E": " ", "M": None}, ("M", "E"), "M"),
        ({"E": " ", "M": "+447400123456"}, ("M", "E"), "E"),
        ({"E": "a@b.co", "M": "+447400123456", "P": "x"}, ("E", "M", "P"), None),
        ({"E": "a@b.co"}, ("P",), "P"),  # a channel the file does not map is empty
        ({"E": None}, (), None),
    ],
)
def test_the_first_wanted_empty_channel_is_named(
    values: dict[Channel, str | None], wanted: tuple[Channel, ...], empty: Channel | None
) -> None:
    assert empty_channels(values, wanted) == empty


@pytest.mark.parametrize(
    ("kind", "address", "digest"),
    [
        ("md5", "test@example.com", "55502f40dc8b7c769880b10874abc9d0"),
        ("md5", " Test@Example.COM ", "55502f40dc8b7c769880b10874abc9d0"),
        ("sha256", "test@example.com", "973dfe463ec85785f5f95af5ba3906eedb2d931c24e69824a89ea65dba4e813b"),
        ("md5", "user@münchen.de", "5064782f12a3a895a42ae84e82ba9335"),  # of the UTF-8 bytes
    ],
)
def test_hashes_are_of_the_normalised_address(kind: HashKind, address: str, digest: str) -> None:
    assert hash_of(kind, address) == digest


def test_each_hash_column_names_its_kind() -> None:
    assert HASH_KINDS == {"EMAIL_MD5_HASH_": "md5", "EMAIL_SHA256_HASH_": "sha256"}


@given(strict_addresses, st.sampled_from(["md5", "sha256"]))
def test_a_hash_written_in_any_case_matches_its_address(address: str, kind: HashKind) -> None:
    digest = hash_of(kind, address)
    assert normalize_hash(f" {digest.upper()} ", kind) == digest
    assert normalize_hash(digest, "sha256" if kind == "md5" else "md5") is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", "md5"),
        ("55502f40dc8b7c769880b10874abc9d", "md5"),  # 31 characters
        ("55502f40dc8b7c769880b10874abc9d00", "md5"),
        ("55502f40dc8b7c769880b10874abc9dg", "md5"),
        ("55502f40dc8b7c76 880b10874abc9d0", "md5"),
        ("５5502f40dc8b7c769880b10874abc9d0", "md5"),  # a full-width digit
        ("55502f40dc8b7c769880b10874abc9d0", "sha256"),
    ],
)
def test_what_is_no_hex_digest_of_its_kind_is_refused(text: str, kind: HashKind) -> None:
    assert normalize_hash(text, kind) is None
