"""The bytes of an export on their way from PostgreSQL's `COPY … TO STDOUT (FORMAT csv)` to the file (ADR 0012):
line endings, the file's encoding, compression. Each stage takes chunks as they come (a chunk may cut a record,
a qualified value or a character anywhere) and returns what it can pass on; `end` returns the rest. Memory stays
a few chunks whatever the export's size.
"""

from __future__ import annotations

import codecs
import io
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import IO, Literal

Compression = Literal["none", "gzip", "zip"]
FileEncoding = Literal["utf-8", "iso-8859-1", "windows-1252", "utf-16"]


class ExportEncodingError(Exception):
    """A character the file's encoding cannot write; `row` is the data row holding it (1-based, header
    excluded: 0 is the header)."""

    def __init__(self, row: int, character: str, encoding: str) -> None:
        super().__init__(f"row {row:,} holds a character {encoding} cannot write (U+{ord(character):04X})")
        self.row = row
        self.character = character


@dataclass
class Records:
    """Follows the records of PostgreSQL's CSV output (line breaks inside qualified values are not record ends,
    a doubled qualifier toggles twice) and, when asked, writes record ends as CRLF."""

    qualifier: bytes
    crlf: bool
    ended: int = 0  # records ended so far
    quoted: bool = False  # whether the bytes so far end inside a qualified value

    def feed(self, chunk: bytes) -> bytes:
        """`chunk` with its record ends counted (and rewritten for CRLF)."""
        if not self.qualifier:  # nothing is ever qualified: every line break ends a record
            self.ended += chunk.count(b"\n")
            return chunk.replace(b"\n", b"\r\n") if self.crlf else chunk
        if self.qualifier not in chunk and not self.quoted:
            self.ended += chunk.count(b"\n")
            return chunk.replace(b"\n", b"\r\n") if self.crlf else chunk
        parts = chunk.split(self.qualifier)
        out: list[bytes] = []
        for index, part in enumerate(parts):
            if index:
                self.quoted = not self.quoted
            if not self.quoted:
                self.ended += part.count(b"\n")
            out.append(part.replace(b"\n", b"\r\n") if self.crlf and not self.quoted else part)
        return self.qualifier.join(out)


def _ends(text: str, qualifier: str, quoted: bool) -> int:
    """Record ends in `text` that starts inside a qualified value or not (`quoted`)."""
    if not qualifier:
        return text.count("\n")
    ends = 0
    for index, part in enumerate(text.split(qualifier)):
        if index:
            quoted = not quoted
        if not quoted:
            ends += part.count("\n")
    return ends


@dataclass
class Reencoder:
    """UTF-8 in, the file's encoding out; an unencodable character fails, naming its row (from `records`)."""

    encoding: FileEncoding
    records: Records
    header: bool
    _decoder: codecs.IncrementalDecoder = field(init=False)
    _encoder: codecs.IncrementalEncoder = field(init=False)

    def __post_init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        codec = "utf-16" if self.encoding == "utf-16" else self.encoding  # utf-16 writes its BOM once, first
        self._encoder = codecs.getincrementalencoder(codec)()

    def feed(self, chunk: bytes, before: int, quoted: bool) -> bytes:
        """`chunk` in the file's encoding; its first byte follows `before` ended records, inside a qualified
        value or not (`quoted`)."""
        if self.encoding == "utf-8":
            return chunk
        text = self._decoder.decode(chunk)
        try:
            return self._encoder.encode(text)
        except UnicodeEncodeError as exc:
            ends = _ends(text[: exc.start], self.records.qualifier.decode(), quoted)
            row = before + ends + (0 if self.header else 1)
            raise ExportEncodingError(row, text[exc.start], self.encoding) from exc

    def end(self) -> bytes:
        if self.encoding == "utf-8":
            return b""
        return self._encoder.encode(self._decoder.decode(b"", final=True), final=True)


class _Sink(io.RawIOBase):
    """Where the zip writer puts its bytes until the chain takes them."""

    def __init__(self) -> None:
        self.taken = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.taken += data
        return len(data)

    def take(self) -> bytes:
        out, self.taken = bytes(self.taken), bytearray()
        return out


class Compressor:
    """None, gzip, or one entry of a zip archive (streamed: data descriptors, zip64 for any size)."""

    def __init__(self, kind: Compression, entry_name: str) -> None:
        self._kind = kind
        self._gzip = zlib.compressobj(6, zlib.DEFLATED, 31) if kind == "gzip" else None
        self._sink = _Sink()
        self._zip: zipfile.ZipFile | None = None
        self._entry: IO[bytes] | None = None
        if kind == "zip":
            self._zip = zipfile.ZipFile(self._sink, "w", compression=zipfile.ZIP_DEFLATED)
            self._entry = self._zip.open(zipfile.ZipInfo(entry_name), "w", force_zip64=True)

    def feed(self, chunk: bytes) -> bytes:
        if self._gzip is not None:
            return self._gzip.compress(chunk)
        if self._entry is not None:
            self._entry.write(chunk)
            return self._sink.take()
        return chunk

    def end(self) -> bytes:
        if self._gzip is not None:
            return self._gzip.flush()
        if self._entry is not None and self._zip is not None:
            self._entry.close()
            self._zip.close()
            return self._sink.take()
        return b""


class ExportStream:
    """The whole chain: records (and CRLF), encoding, compression; `rows` is the data rows passed so far."""

    def __init__(
        self,
        *,
        qualifier: str,
        crlf: bool,
        header: bool,
        encoding: FileEncoding,
        compression: Compression,
        entry_name: str,
    ) -> None:
        self._records = Records(qualifier.encode(), crlf)
        self._reencoder = Reencoder(encoding, self._records, header)
        self._compressor = Compressor(compression, entry_name)
        self._header = header
        self.bytes_in = 0

    @property
    def rows(self) -> int:
        """Data rows ended so far (the header is not one)."""
        return max(0, self._records.ended - (1 if self._header else 0))

    def feed(self, chunk: bytes) -> bytes:
        self.bytes_in += len(chunk)
        before, quoted = self._records.ended, self._records.quoted
        return self._compressor.feed(self._reencoder.feed(self._records.feed(chunk), before, quoted))

    def end(self) -> bytes:
        return self._compressor.feed(self._reencoder.end()) + self._compressor.end()
