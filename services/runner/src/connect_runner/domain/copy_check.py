"""Whether PostgreSQL's CSV COPY reads a file's records exactly as the `csv` module does, judged from its bytes;
and whether any value may need trimming afterwards.

The two parsers agree on well-formed CSV and differ on the rest: PostgreSQL opens and closes quoting at any
qualifier (`ab"c,d"` is one field `abc,d`), while the `csv` module takes a qualifier inside an unquoted field,
or after a closing one, literally (`ab"c`, `d"`). So a qualifier may only open a field (after a delimiter, a
line break or the start) and only close one (before a delimiter, a line break, the end or a doubled qualifier).
PostgreSQL also ends its input at a line holding only `\\.`, where the `csv` module reads a value: a file with
`\\.` anywhere is refused. Everything else either parses alike or makes COPY fail (a wrong field count, a blank
line, mixed line breaks, an unterminated quote, bytes invalid in the encoding), and then the caller reads the
file with the `csv` module instead.

Quoted sections are collapsed to one qualifier each (a regular expression, in C), and only the collapsed text is
searched for a qualifier with an ordinary byte on its outer side; a file without qualifiers costs two searches
per chunk. Only for encodings where these bytes never occur inside a multi-byte character (UTF-8, ISO-8859-1,
Windows-1252).

COPY stores values as written, and trimming them in SQL costs far more than finding out that none needs it
(`untrimmed`): white space next to a delimiter, a line break or a qualifier, a line break (or tab delimiter)
inside a quoted value, or any white space of more than one byte. It may say so of a value that needs no
trimming; never the other way round.
"""

from __future__ import annotations

import re

from connect_runner.domain.statements import WHITE_SPACE

END_OF_DATA = b"\\."
_OTHER, _BOUND, _SPACE = 0, 1, 2  # byte classes for the white space search
_EDGES = (bytes([_BOUND, _SPACE]), bytes([_SPACE, _BOUND]))


class CopyRefusedError(Exception):
    """The file's bytes would not be read by COPY as by the `csv` module: stage it with the `csv` module."""


class CopyCheck:
    """Follows a file's data bytes, chunk by chunk in file order: raises `CopyRefusedError` at the first chunk
    COPY would read otherwise than the `csv` module, and tells whether a value may need trimming."""

    def __init__(self, delimiter: str, qualifier: str, encoding: str, longest: int = 1 << 24) -> None:
        quote, bounds = re.escape(qualifier.encode()), re.escape(delimiter.encode()) + rb"\r\n"
        self._qualifier = qualifier.encode()
        self._sections = re.compile(quote + b"[^" + quote + b"]*" + quote)
        self._stray = re.compile(b"[^" + bounds + quote + b"]" + quote + b"|" + quote + b"[^" + bounds + quote + b"]")
        self._breaks = b"\r\n" + (b"\t" if delimiter == "\t" else b"")  # white space that is a boundary outside quotes
        self._classes, self._wide = _classes(delimiter, qualifier, encoding)
        self._in_quote = False
        self._tail = b""  # the previous chunk's last bytes
        self._last = b"\n"  # the last byte of the collapsed text so far: data starts like a line does
        self._edge = _BOUND  # the class of the last byte so far: data starts at a boundary
        self._longest = longest  # the `csv` module's field limit: COPY would take a longer value
        self._since_break = 0  # bytes since the last line break byte (an unquoted value has none)
        self._quoted = 0  # bytes of the quoted value that goes on into the next chunk
        self._closing = False  # the last chunk ended on a qualifier that closes a quoted value or doubles one
        self.untrimmed = False

    def feed(self, chunk: bytes) -> None:
        """Check the next chunk (it may cut a record or a quoted value anywhere)."""
        if END_OF_DATA in chunk or (self._tail.endswith(b"\\") and chunk[:1] == b"."):
            raise CopyRefusedError("a line may end PostgreSQL's input early")
        if not chunk:
            return
        self._measure(chunk)
        if not self.untrimmed:
            self.untrimmed = self._spaced(chunk)
        self._tail, rest = (self._tail + chunk)[-2:], chunk
        if self._closing:  # the last chunk ended on a qualifier inside a quoted value: closing, or doubled?
            self._closing = False
            if rest.startswith(self._qualifier):
                self._long_quote(1)
                rest, self._in_quote = rest[1:], True
            else:
                self._quoted = 0
        while self._in_quote:
            end = rest.find(self._qualifier)
            self._quoted_break(rest if end < 0 else rest[:end])
            self._long_quote(len(rest) if end < 0 else end)
            if end < 0:
                return
            if end + 1 == len(rest):  # the next chunk tells
                rest, self._in_quote, self._closing = b"", False, True
            elif rest[end + 1 : end + 2] == self._qualifier:  # a doubled qualifier: one character of the value
                self._long_quote(1)
                rest = rest[end + 2 :]
            else:
                rest, self._in_quote, self._quoted = rest[end + 1 :], False, 0
        if self._qualifier in rest:
            if rest.count(self._qualifier) % 2:  # a quoted value goes on in the next chunk
                cut = rest.rfind(self._qualifier) + 1
                self._quoted_break(rest[cut:])
                # Counted from the chunk's first qualifier: the value may have opened there (doubled qualifiers
                # inside it), and counting more than its length only sends the file to the `csv` module.
                self._long_quote(len(rest) - rest.find(self._qualifier) - 1)
                rest, self._in_quote = rest[:cut], True
            elif rest.endswith(self._qualifier):  # a quoted value closes at the cut, or goes on with a doubled one
                self._closing = True
                self._long_quote(len(rest) - rest.find(self._qualifier) - 2)
            collapsed = self._sections.sub(self._qualifier, rest)
            if self._stray.search(collapsed):
                raise CopyRefusedError("a qualifier stands inside a value")
            if not self.untrimmed:  # fewer line breaks once the quoted values are gone: some were inside them
                self.untrimmed = any(rest.count(b) != collapsed.count(b) for b in self._breaks)
            rest = collapsed
        if rest and self._stray.match(self._last + rest[:1]):  # the bytes either side of the cut
            raise CopyRefusedError("a qualifier stands inside a value")
        self._last = rest[-1:] or self._last

    def end(self) -> None:
        """The data ended: white space at its very end is at a value's edge too."""
        self.untrimmed = self.untrimmed or self._edge == _SPACE

    def _spaced(self, chunk: bytes) -> bool:
        """White space next to a boundary (within the chunk or across the cut), or wide white space."""
        classes = chunk.translate(self._classes)
        across = bytes([self._edge, classes[0]])
        self._edge = classes[-1]
        if any(pair in classes or pair == across for pair in _EDGES):
            return True
        joined = self._tail + chunk[:2]
        return not (chunk.isascii() and joined.isascii()) and any(w in chunk or w in joined for w in self._wide)

    def _measure(self, chunk: bytes) -> None:
        """Refuse a file where a value may be longer than the `csv` module takes (it fails such a file, and COPY
        must not load it instead): more bytes than that without a line break, or in one quoted value. Values
        within a chunk are not measured: a chunk longer than the limit is refused."""
        if len(chunk) > self._longest:
            raise CopyRefusedError("a chunk is longer than the field limit")
        last = max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))
        if last < 0:
            self._since_break += len(chunk)
        else:
            first = min(i for i in (chunk.find(b"\n"), chunk.find(b"\r")) if i >= 0)
            if self._since_break + first > self._longest:
                raise CopyRefusedError("a value may be longer than the field limit")
            self._since_break = len(chunk) - last - 1
        if self._since_break > self._longest:
            raise CopyRefusedError("a value may be longer than the field limit")

    def _long_quote(self, inside: int) -> None:
        self._quoted += inside
        if self._quoted > self._longest:
            raise CopyRefusedError("a quoted value may be longer than the field limit")

    def _quoted_break(self, inside: bytes) -> None:
        if not self.untrimmed:
            self.untrimmed = any(b in inside for b in self._breaks)


def _classes(delimiter: str, qualifier: str, encoding: str) -> tuple[bytes, tuple[bytes, ...]]:
    """A translation table of bytes to classes (boundary, one-byte white space, other), and the white space
    characters that take more than one byte in `encoding`."""
    table = bytearray(256)
    wide: list[bytes] = []
    for char in WHITE_SPACE:
        try:
            encoded = char.encode(encoding)
        except UnicodeEncodeError:
            continue
        if len(encoded) == 1:
            table[encoded[0]] = _SPACE
        else:
            wide.append(encoded)
    for char in (delimiter, qualifier, "\r", "\n"):
        table[ord(char)] = _BOUND
    return bytes(table), tuple(wide)
