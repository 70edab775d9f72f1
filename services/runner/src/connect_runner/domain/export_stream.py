"""The bytes of an export on their way from PostgreSQL's `COPY … TO STDOUT (FORMAT csv)` to the file (ADR 0012):
record ends, the file's encoding, compression. Each stage takes chunks as they come (a chunk may cut a record,
a qualified value or a character anywhere) and returns what it can pass on; `end` returns the rest. Memory stays
a few chunks whatever the export's size.
"""

from __future__ import annotations

import codecs
import io
import zipfile
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Literal, Protocol

Compression = Literal["none", "gzip", "zip"]
FileEncoding = Literal["utf-8", "iso-8859-1", "windows-1252", "utf-16"]
LineEnding = Literal["lf", "crlf"]

# The COPY's QUOTE when the file has no qualifier. The SELECT strips it from every value, so PostgreSQL only ever
# writes it around a value it must quote whatever the values hold (`\.` alone on a line, the end-of-data marker
# of old clients); the chain drops it, so nothing in the file is ever qualified.
NO_QUALIFIER_QUOTE = "\x01"
GZIP_LEVEL = 6  # gzip's own default: most of the size gain at a fraction of level 9's time
_GZIP_WBITS = 31  # 16 + 15: a gzip header and trailer around a 32 KiB-window deflate stream


class ExportEncodingError(Exception):
    """A character the file's encoding cannot write; `row` is the data row holding it (1-based, header
    excluded: 0 is the header)."""

    def __init__(self, row: int, character: str, encoding: str) -> None:
        super().__init__(f"row {row:,} holds a character {encoding} cannot write (U+{ord(character):04X})")
        self.row = row
        self.character = character


@dataclass
class Records:
    """Follows the records of PostgreSQL's CSV output and, when asked, writes their ends as CRLF.

    A line break ends a record unless it is inside a qualified value. PostgreSQL doubles a qualifier inside a
    value, so the qualifiers before a line break, counted from the start, are odd exactly when it is inside one;
    `quoted` carries that parity from chunk to chunk. Without a qualifier every line break ends a record (the
    SELECT turned those inside values into spaces) and the stray `NO_QUALIFIER_QUOTE` is dropped."""

    qualifier: bytes
    crlf: bool
    ended: int = 0  # records ended so far
    quoted: bool = False  # whether the bytes so far end inside a qualified value

    def feed(self, chunk: bytes) -> bytes:
        """`chunk` with its record ends counted (and written as CRLF when asked)."""
        if not self.qualifier:
            return self._all_end(chunk.replace(NO_QUALIFIER_QUOTE.encode(), b""))
        if not self.quoted and self.qualifier not in chunk:
            return self._all_end(chunk)
        lines = chunk.split(b"\n")
        # One C-level count per line: almost every chunk has no line break inside a value (fast path below).
        flips = [line.count(self.qualifier) & 1 for line in lines]
        if not self.quoted and not any(flips):
            return self._all_end(chunk)
        return self._walk(lines, flips)

    def _all_end(self, chunk: bytes) -> bytes:
        self.ended += chunk.count(b"\n")
        return chunk.replace(b"\n", b"\r\n") if self.crlf else chunk

    def _walk(self, lines: list[bytes], flips: list[int]) -> bytes:
        """The slow path: a line break inside a value, or a value still open, in this chunk."""
        end = b"\r\n" if self.crlf else b"\n"
        out = bytearray()
        last = len(lines) - 1
        for index, line in enumerate(lines):
            out += line
            self.quoted ^= bool(flips[index])
            if index < last:
                if self.quoted:
                    out += b"\n"
                else:
                    self.ended += 1
                    out += end
        return bytes(out)


def _ends(text: str, qualifier: str, quoted: bool) -> int:
    """Record ends in `text`, which starts inside a qualified value or not (`quoted`)."""
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
    """UTF-8 in, the file's encoding out, incrementally (a chunk may cut a character); an unencodable character
    fails, naming its row. UTF-16 is written with one byte-order mark, first."""

    encoding: FileEncoding
    qualifier: str
    header: bool
    _decoder: codecs.IncrementalDecoder = field(init=False)
    _encoder: codecs.IncrementalEncoder = field(init=False)

    def __post_init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._encoder = codecs.getincrementalencoder(self.encoding)()

    def feed(self, chunk: bytes, before: int, quoted: bool) -> bytes:
        """`chunk` in the file's encoding; its first byte follows `before` ended records, inside a qualified
        value or not (`quoted`). Bytes of a character cut at the chunk's end wait for the next one (they are
        never a qualifier or a line break, so the row count holds)."""
        if self.encoding == "utf-8":
            return chunk
        text = self._decoder.decode(chunk)
        try:
            return self._encoder.encode(text)
        except UnicodeEncodeError as exc:
            row = before + _ends(text[: exc.start], self.qualifier, quoted) + (0 if self.header else 1)
            raise ExportEncodingError(row, text[exc.start], self.encoding) from None

    def end(self) -> bytes:
        if self.encoding == "utf-8":
            return b""
        return self._encoder.encode(self._decoder.decode(b"", final=True), final=True)


class _Sink(io.RawIOBase):
    """Where the zip writer puts its bytes until the chain takes them: unseekable, so the archive is streamed
    (sizes and CRC in a data descriptor after the entry)."""

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
    """None, gzip, or the one entry of a zip archive (streamed: data descriptors, zip64 whatever the size).
    `modified` is the entry's time in the archive (1980-01-01 without one)."""

    def __init__(self, kind: Compression, entry_name: str, modified: datetime | None = None) -> None:
        self._gzip = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, _GZIP_WBITS) if kind == "gzip" else None
        self._sink = _Sink()
        self._zip: zipfile.ZipFile | None = None
        self._entry: IO[bytes] | None = None
        if kind == "zip":
            info = zipfile.ZipInfo(entry_name, modified.timetuple()[:6] if modified else (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED  # a ZipInfo given to `open` keeps its own: STORED
            info.external_attr = 0o644 << 16  # rw-r--r-- for unzip on POSIX
            self._zip = zipfile.ZipFile(self._sink, "w")
            self._entry = self._zip.open(info, "w", force_zip64=True)  # sizes are unknown until the end

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
    """The whole chain: records (and CRLF), encoding, compression. `rows` is the data rows passed so far;
    `bytes_in` what PostgreSQL wrote."""

    def __init__(
        self,
        *,
        qualifier: str,
        crlf: bool,
        header: bool,
        encoding: FileEncoding,
        compression: Compression,
        entry_name: str,
        modified: datetime | None = None,
    ) -> None:
        self._records = Records(qualifier.encode(), crlf)
        self._reencoder = Reencoder(encoding, qualifier, header)
        self._compressor = Compressor(compression, entry_name, modified)
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


class StreamSettings(Protocol):
    """What the chain needs of the file's settings (`CsvOutput`'s fields)."""

    @property
    def qualifier(self) -> str: ...
    @property
    def header(self) -> bool: ...
    @property
    def encoding(self) -> FileEncoding: ...
    @property
    def line_ending(self) -> LineEnding: ...
    @property
    def compression(self) -> Compression: ...


def export_stream(output: StreamSettings, entry_name: str, modified: datetime | None = None) -> ExportStream:
    """The chain writing `output`'s file; `entry_name` names the data file inside a zip archive."""
    return ExportStream(
        qualifier=output.qualifier,
        crlf=output.line_ending == "crlf",
        header=output.header,
        encoding=output.encoding,
        compression=output.compression,
        entry_name=entry_name,
        modified=modified,
    )
