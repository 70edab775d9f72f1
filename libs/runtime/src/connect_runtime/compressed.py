"""Which compressed files imports read, one rule for every service that opens one (the runner loading a file,
the gateway reading its header): by the file's name, `.gz` is gzip and `.zip` is a zip archive holding exactly
one file, not encrypted. Each service words the refusals itself."""

from __future__ import annotations

import zipfile
from typing import Literal

ENCRYPTED_FLAG = 0x1  # bit 0 of a zip entry's general-purpose flags

Compression = Literal["gzip", "zip"]


class ArchiveRefusedError(ValueError):
    """A zip archive that does not hold exactly one unencrypted file: `entries` files, `encrypted` or not."""

    def __init__(self, entries: int, *, encrypted: bool) -> None:
        super().__init__(f"{entries} entries" + (", encrypted" if encrypted else ""))
        self.entries = entries
        self.encrypted = encrypted


def compression(name: str) -> Compression | None:
    """How a file named `name` is compressed, or None for a plain file."""
    lowered = name.lower()
    return "gzip" if lowered.endswith(".gz") else "zip" if lowered.endswith(".zip") else None


def single_entry(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    """The one file of `archive` (folders aside); raises `ArchiveRefusedError`."""
    entries = [info for info in archive.infolist() if not info.is_dir()]
    if len(entries) != 1:
        raise ArchiveRefusedError(len(entries), encrypted=False)
    if entries[0].flag_bits & ENCRYPTED_FLAG:
        raise ArchiveRefusedError(1, encrypted=True)
    return entries[0]
