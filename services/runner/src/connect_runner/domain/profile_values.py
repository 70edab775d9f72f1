"""The value rules of profile imports (spec §4.2, §4.3): e-mail addresses, mobile numbers, mapped codes, hashes.

Each rule is called once per value while a file is parsed, so each is a plain function over a trimmed or raw
text that returns the value to stage, or None for a value that breaks the rule (its row is then rejected with
the rule's reason). Patterns and lookups are compiled once; the common case raises nothing.

E-mail addresses are trimmed and lower-cased (the form stored, matched and hashed). `strict` wants an RFC 5322
dot-atom local part of at most 64 characters and a domain of DNS labels (letters, digits and inner hyphens, at
most 63 characters each) ending in a top-level label of two or more letters or an `xn--` label; internationalised
domains may be written with U-labels (non-ASCII letters, marks and digits, counted in characters, not converted
to their `xn--` form), the local part stays ASCII. `basic` wants one `@` with text on both sides, no white space
or control character, and a dot with text on both sides in the domain. Both allow at most 254 characters, the
longest address mail can be sent to (and what fits `EMAIL_ADDRESS_`).

Mobile numbers are read without the separators people write (space, no-break space, `-`, `.`, `(`, `)`), and
an `(0)` written after the country code (`+44 (0)7700 900123`) is dropped. A number written with `+` is always
international. In `e164` mode a number also is when written with `00` or as bare digits: it starts with its
country code. In `local` mode a number without `+` is dialled from `country`: its international prefix (`00`,
`011`, …) makes it international; otherwise its national prefix (`0`, `1`, `8`, …, with phonenumbers' rewrites
such as Argentina's mobile `15`) is dropped when what remains has a length the country's numbers can have, and
the country's calling code is put in front. A number is kept when it has 6 to 15 digits, its country code
exists and is a country's (not `+800` and other non-geographic codes), and its national part has a length the
country's numbers can have (phonenumbers' metadata; the number need not be assigned, nor be a mobile one). Its
region is the one phonenumbers gives; a possible number it places in no region of a shared calling code (+1,
+44, +7, …) gets the code's main country.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Literal, TypeVar

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata, PhoneNumberDesc

from connect_events.definitions import Channel, EmailFormatMapping, PermissionMapping

EmailCheck = Literal["strict", "basic"]
MobileMode = Literal["e164", "local"]
HashKind = Literal["md5", "sha256"]
Permission = Literal["I", "O"]
EmailFormat = Literal["H", "T"]
Matcher = Callable[[str], re.Match[str] | None]

HASH_KINDS: Mapping[str, HashKind] = {"EMAIL_MD5_HASH_": "md5", "EMAIL_SHA256_HASH_": "sha256"}
"""The hash each hash match column holds."""

MAX_EMAIL_CHARS = 254
MIN_MOBILE_DIGITS, MAX_MOBILE_DIGITS = 6, 15

_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]"
_LOCAL = rf"(?=[^@]{{1,64}}@){_ATEXT}+(?:\.{_ATEXT}+)*"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_TOP_LABEL = r"(?:[a-z]{2,63}|xn--[a-z0-9-]{0,58}[a-z0-9])"
_STRICT_ASCII = re.compile(rf"{_LOCAL}@(?:{_LABEL}\.)+{_TOP_LABEL}").fullmatch
_STRICT_LOCAL = re.compile(rf"{_LOCAL}@").match  # an internationalised domain follows
_BASIC_PART = r"[^@\s\x00-\x1f\x7f]+"
_BASIC = re.compile(rf"{_BASIC_PART}@{_BASIC_PART}\.{_BASIC_PART}").fullmatch
_U_LABEL_CATEGORIES = frozenset({"Ll", "Lu", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd"})
_U_TOP_CATEGORIES = frozenset({"Ll", "Lu", "Lt", "Lm", "Lo", "Mn", "Mc", "Me"})
_ASCII_LABEL = re.compile(_LABEL).fullmatch
_ASCII_TOP_LABEL = re.compile(_TOP_LABEL).fullmatch


def normalize_email(text: str, mode: EmailCheck) -> str | None:
    """The trimmed, lower-cased address, or None when it does not look like an address in `mode`."""
    address = text.strip().lower()
    if len(address) > MAX_EMAIL_CHARS:
        return None
    if mode == "basic":
        return address if _BASIC(address) else None
    if _STRICT_ASCII(address):
        return address
    local = None if address.isascii() else _STRICT_LOCAL(address)
    return address if local is not None and _international_domain(address[local.end() :]) else None


def _international_domain(domain: str) -> bool:
    labels = domain.split(".")
    return len(labels) > 1 and all(_label(label, _U_LABEL_CATEGORIES) for label in labels[:-1]) and _top(labels[-1])


def _label(label: str, categories: frozenset[str]) -> bool:
    if label.isascii():
        return _ASCII_LABEL(label) is not None
    # A U-label: hyphens inside only, no mark first (it would combine with the dot).
    return (
        0 < len(label) <= 63
        and label[0] != "-"
        and label[-1] != "-"
        and unicodedata.category(label[0])[0] != "M"
        and all(char == "-" or unicodedata.category(char) in categories for char in label)
    )


def _top(label: str) -> bool:
    if label.isascii():
        return _ASCII_TOP_LABEL(label) is not None
    return len(label) >= 2 and "-" not in label and _label(label, _U_TOP_CATEGORIES)


_TRUNK_ZERO = "(0)"


def normalize_mobile(text: str, mode: MobileMode, country: str | None) -> tuple[str, str] | None:
    """(The number in E.164, `+` and digits; its ISO 3166 alpha-2 region), or None when it is no mobile number.

    In `local` mode, `country` (ISO alpha-2) is where numbers written without `+` are dialled from.
    """
    if _TRUNK_ZERO in text and text.lstrip().startswith(("+", "00")):
        text = text.replace(_TRUNK_ZERO, "", 1)
    # Chained `replace` is several times faster than `translate` or a regular expression here.
    written = text.replace(" ", "").replace("\u00a0", "").replace("-", "").replace(".", "")
    written = written.replace("(", "").replace(")", "")
    if written.startswith("+"):
        digits: str | None = written[1:]
    elif mode == "e164":
        digits = written[2:] if written.startswith("00") else written
    else:
        dialling = _dialling(country.upper()) if country else None
        digits = None if dialling is None else dialling.international(written)
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    return _e164(digits)


def _e164(digits: str) -> tuple[str, str] | None:
    if not MIN_MOBILE_DIGITS <= len(digits) <= MAX_MOBILE_DIGITS:
        return None
    for code_length in (1, 2, 3):  # calling codes are prefix-free: at most one of these exists
        calling_code = _calling_code(digits[:code_length])
        if calling_code is not None:
            national = digits[code_length:]
            if len(national) not in calling_code.lengths:
                return None
            return f"+{digits}", calling_code.region(national)
    return None


@dataclass(frozen=True, slots=True)
class _CallingCode:
    """A country calling code: the national lengths its numbers can have and the regions that share it."""

    lengths: frozenset[int]
    main_region: str
    claims: tuple[tuple[str, Matcher], ...]  # in phonenumbers' order; empty for a code of one region

    def region(self, national: str) -> str:
        for region, owns in self.claims:
            if owns(national) is not None:
                return region
        return self.main_region


# phonenumbers' number types; any order (a number is valid when one matches), the common ones first.
_TYPES = (
    "mobile",
    "fixed_line",
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
)


@cache
def _calling_code(code: str) -> _CallingCode | None:
    regions = COUNTRY_CODE_TO_REGION_CODE.get(int(code)) if code[0] != "0" else None
    if not regions or regions[0] == "001":  # 001: a non-geographic code (+800, +882, …)
        return None
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(int(code), regions[0])
    general = None if metadata is None else metadata.general_desc
    if general is None:
        return None
    # phonenumbers keeps the lengths only dialled locally (without area code) apart: they are not possible here.
    lengths = frozenset(general.possible_length)
    claims = tuple(claim for claim in map(_claim, regions) if claim is not None) if len(regions) > 1 else ()
    return _CallingCode(lengths, regions[0], claims)


def _claim(region: str) -> tuple[str, Matcher] | None:
    """A region of a shared calling code, and what phonenumbers' `region_code_for_number` tests for it: its leading
    digits when it has them, else a valid number of it (its general description and that of one number type)."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return None
    if metadata.leading_digits is not None:
        return region, re.compile(metadata.leading_digits).match
    general = _desc_pattern(metadata.general_desc)
    if general is None:
        return None
    types = filter(None, (_desc_pattern(getattr(metadata, kind)) for kind in _TYPES))
    # One pattern per region: the alternatives run in the regular expression engine, not in a Python loop.
    return region, re.compile(f"(?={general})(?:{'|'.join(types)})").match


def _desc_pattern(desc: PhoneNumberDesc | None) -> str | None:
    """A number description as a pattern of the whole number: its lengths (when given) and its digits."""
    if desc is None or not desc.national_number_pattern:
        return None
    lengths = "|".join(f"[0-9]{{{length}}}" for length in desc.possible_length)
    length_check = rf"(?=(?:{lengths})\Z)" if lengths else ""
    return rf"{length_check}(?:{desc.national_number_pattern})\Z"


@dataclass(frozen=True, slots=True)
class _Dialling:
    """How numbers are dialled from one country: its calling code and its international and national prefixes."""

    calling_code: str
    idd: Matcher | None
    national_prefix: Matcher | None  # phonenumbers' national prefix for parsing (`0`, `1`, `8`, `0|80?`, …)
    transform: str | None  # what replaces a national prefix whose last group matched (Argentina's mobile `15`)
    lengths: frozenset[int]

    def international(self, written: str) -> str:
        """`written` (separator-free) with its country code first."""
        found = self.idd(written) if self.idd is not None else None
        if found is not None:
            return written[found.end() :]
        return self.calling_code + self._national(written)

    def _national(self, written: str) -> str:
        found = self.national_prefix(written) if self.national_prefix is not None else None
        if found is None or not found.end():
            return written
        groups = found.re.groups
        rewritten = found.expand(self.transform) if self.transform and groups and found.group(groups) else ""
        national = rewritten + written[found.end() :]
        # A number that only looked like it had the prefix keeps its digits.
        return national if len(national) in self.lengths else written


@cache
def _dialling(country: str) -> _Dialling | None:
    metadata = PhoneMetadata.metadata_for_region(country)
    if metadata is None or metadata.country_code is None:
        return None
    calling_code = _calling_code(str(metadata.country_code))
    if calling_code is None:
        return None
    idd = _prefix(metadata.international_prefix)
    national = _prefix(metadata.national_prefix_for_parsing or metadata.national_prefix)
    transform = metadata.national_prefix_transform_rule
    return _Dialling(str(metadata.country_code), idd, national, transform, calling_code.lengths)


def _prefix(pattern: str | None) -> Matcher | None:
    return re.compile(pattern).match if pattern else None


Choice = TypeVar("Choice", bound=str)


def permission_reader(mapping: PermissionMapping) -> Callable[[str | None], Permission]:
    """Maps a permission value to `I` or `O`; a value listed for both is opt-out (never opt in by doubt)."""
    return _reader((("I", mapping.opt_in), ("O", mapping.opt_out)), mapping.default)


def format_reader(mapping: EmailFormatMapping) -> Callable[[str | None], EmailFormat]:
    """Maps an e-mail format value to `H` or `T`; a value listed for both is text (what every client shows)."""
    return _reader((("H", mapping.html), ("T", mapping.text)), mapping.default)


def map_permission(value: str | None, mapping: PermissionMapping) -> Permission:
    """`value` as `I` or `O` (trimmed, case-insensitive); empty or unknown: the mapping's default."""
    return permission_reader(mapping)(value)


def map_email_format(value: str | None, mapping: EmailFormatMapping) -> EmailFormat:
    """`value` as `H` or `T` (trimmed, case-insensitive); empty or unknown: the mapping's default."""
    return format_reader(mapping)(value)


def _reader(choices: tuple[tuple[Choice, tuple[str, ...]], ...], default: Choice) -> Callable[[str | None], Choice]:
    # Later choices overwrite earlier ones for a value listed twice; an empty value always reads as the default.
    lookup = {value.strip().casefold(): choice for choice, values in choices for value in values if value.strip()}

    def read(value: str | None) -> Choice:
        return default if value is None else lookup.get(value.strip().casefold(), default)

    return read


def empty_channels(values: Mapping[Channel, str | None], wanted: tuple[Channel, ...]) -> Channel | None:
    """The first of the `wanted` channels whose value (e-mail, mobile, postal street) is empty, if any."""
    return next((channel for channel in wanted if not (values.get(channel) or "").strip()), None)


_HEX_LENGTHS: Mapping[HashKind, int] = {"md5": 32, "sha256": 64}
_HEX = re.compile("[0-9a-f]+").fullmatch


def hash_of(kind: HashKind, address: str) -> str:
    """The lower-case hex digest of the normalised (trimmed, lower-cased) address, as its hash column holds it."""
    return hashlib.new(kind, address.strip().lower().encode()).hexdigest()


def normalize_hash(text: str, kind: HashKind) -> str | None:
    """A file's hash value, trimmed and lower-cased, or None when it is no hex digest of that kind."""
    digest = text.strip().lower()
    return digest if len(digest) == _HEX_LENGTHS[kind] and _HEX(digest) else None
