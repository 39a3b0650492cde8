"""The wire bytes of an outbound message: the bytes ``EmailMessage(policy=SMTP)`` writes, built cheaply.

The outbox used to build each message with ``EmailMessage``: every header parsed through the header
registry when set and folded again when written, every part's headers too, about 4 ms a message. This
module writes the same bytes for the same input (CRLF line ends, a multipart/alternative of a text/plain
and a text/html part, in a multipart/mixed when there are attachments) with less work:

* a header of plain ASCII words (printable, single spaces, no encoded-word marker) is folded here, by
  the stdlib's own folding rule for such values (fill a line to 78, fold at a space; a value that fits
  on a line of its own goes there whole); so is a list of bare ``user@domain`` addresses that fits on
  one line. Anything else (non-ASCII, a display name, a line break, a word over 77) is folded by the
  stdlib (``policy.header_store_parse`` + ``fold_binary``, just what ``EmailMessage`` does), cached by
  value: the From, the Date of a pass, the coordinators' To repeat;
* the text parts are encoded as ``set_content`` does (ASCII in lines up to 998 as 7bit, as
  ``cte="7bit"`` writes it; other text by its own rule: 8bit, quoted-printable or base64), base64
  with ``binascii``, quoted-printable by ``quoted_printable``: the steps of
  ``email.quoprimime.body_encode`` with its quoting table applied by ``str.replace`` when it can be
  and only the lines to cut cut (it was half the time of a message);
* an attachment's headers are the stdlib's, made once per content type and file name.

``tests/test_mime.py`` checks, on a broad set of messages, that these bytes are the ones
``EmailMessage`` writes.
"""

from __future__ import annotations

import binascii
import random
import re
import sys
from collections.abc import Iterable, Sequence
from email.message import EmailMessage
from email.policy import SMTP
from functools import lru_cache

from ..core.models import OutAttachment

MAXLEN = 78  # SMTP.max_line_length
# RFC 5322 2.1.1: a line is at most 998 characters; 7bit data (RFC 2045 2.7) is ASCII, no NUL, in such lines.
LONGEST_7BIT = 998
CRLF = "\r\n"

# Printable ASCII words, one space between them, no encoded-word marker: folded here.
_PLAIN = re.compile(r"[!-~]+(?: [!-~]+)*")
_ADDR = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_ADDRESSES = re.compile(rf"{_ADDR}(?:, {_ADDR})*")
_ADDRESS_HEADERS = frozenset({"from", "to", "cc", "bcc", "reply-to", "sender"})
# Headers the registry parses into something other than unstructured text (dates, ids, MIME).
_STRUCTURED = frozenset(
    {
        "date",
        "resent-date",
        "orig-date",
        "mime-version",
        "content-type",
        "content-disposition",
        "content-transfer-encoding",
        "resent-from",
        "resent-to",
        "resent-cc",
        "resent-bcc",
        "resent-sender",
    }
)
_BOUNDARY_WIDTH = len(repr(sys.maxsize - 1))


def header(name: str, value: str) -> str:
    """``name: value`` folded as ``EmailMessage(policy=SMTP)`` writes it, with its CRLF.

    Raises ValueError for a value with a line break, as ``EmailMessage`` does.
    """
    lower = name.lower()
    if "=?" not in value and len(name) < 60:
        if lower in _ADDRESS_HEADERS:
            if len(name) + 2 + len(value) <= MAXLEN and _ADDRESSES.fullmatch(value):
                return f"{name}: {value}{CRLF}"
        elif lower == "message-id":
            if len(name) + 2 + len(value) <= MAXLEN and _ADDR_ID.fullmatch(value):
                return f"{name}: {value}{CRLF}"
        elif lower not in _STRUCTURED and _PLAIN.fullmatch(value):
            if max(map(len, value.split(" "))) < MAXLEN:
                return _fold_plain(name, value)
    return _stdlib_header(name, value)


_ADDR_ID = re.compile(rf"<{_ADDR}>")


def _fold_plain(name: str, value: str) -> str:
    """The stdlib's folding of unstructured text, for words of printable ASCII of at most 77.

    As ``email._header_value_parser._refold_parse_tree`` does it: the whole value after ``name: `` if
    it fits, else on a line of its own if it fits there, else word by word, each fold taking the space
    before the word that does not fit.
    """
    first = f"{name}: "
    if len(first) + len(value) <= MAXLEN:
        return f"{first}{value}{CRLF}"
    if len(value) + 1 <= MAXLEN:
        return f"{name}:{CRLF} {value}{CRLF}"
    lines: list[str] = []
    line = first
    for k, word in enumerate(value.split(" ")):
        if k:  # the space before this word
            if len(line) < MAXLEN:
                line += " "
            else:
                lines.append(line)
                line = " "
        if len(word) <= MAXLEN - len(line):
            line += word
        else:  # line ends with the space: it moves to the next line with the word
            lines.append(line[:-1])
            line = " " + word
    lines.append(line)
    return CRLF.join(lines) + CRLF


@lru_cache(maxsize=1024)
def _stdlib_header(name: str, value: str) -> str:
    """The header as ``EmailMessage(policy=SMTP)`` stores and writes it (slow; cached by value)."""
    stored = SMTP.header_store_parse(name, value)[1]
    folded: str = SMTP.fold(name, stored)
    return folded


def text_part(text: str, subtype: str, *, mime_version: bool = False) -> bytes:
    """A text part as ``set_content(text, subtype=...)`` makes it: its headers, a blank line, its body.

    Text of ASCII in lines of at most 998 (no NUL past 78) goes as it is, 7bit, as ``set_content(...,
    cte="7bit")`` writes it: RFC 5322 allows such lines, every mail client reads them, and the HTML part's
    long lines are no longer quoted-printable (the encoding work, and ~5% of the text's bytes, gone).
    Other text's transfer encoding is ``email.contentmanager._encode_text``'s rule: 8bit when every
    line is at most 78 bytes, else quoted-printable or base64, whichever is shorter on the first 10
    lines. ``mime_version``: the part ``add_alternative`` added carries ``MIME-Version: 1.0``.
    """
    lines = text.encode("utf-8").splitlines()
    longest = max(map(len, lines), default=0)
    body = b"\r\n".join(lines) + b"\r\n"
    if longest <= MAXLEN:
        cte = "7bit" if body.isascii() else "8bit"
    elif longest <= LONGEST_7BIT and body.isascii() and b"\0" not in body:
        cte = "7bit"
    else:
        sniff = b"\n".join(lines[:10]) + b"\n"
        sniff_qp = quoted_printable(sniff.decode("latin-1"))
        if len(sniff_qp) > len(binascii.b2a_base64(sniff.replace(b"\n", b"\r\n"))):
            cte = "base64"
            body = _base64(body)
        elif len(lines) <= 10:
            cte = "quoted-printable"
            body = sniff_qp.encode("ascii").replace(b"\n", b"\r\n")
        else:
            cte = "quoted-printable"
            data = (b"\n".join(lines) + b"\n").decode("latin-1")
            body = quoted_printable(data).encode("ascii").replace(b"\n", b"\r\n")
    head = (
        f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}Content-Transfer-Encoding: {cte}{CRLF}'
    )
    if mime_version:
        head += f"MIME-Version: 1.0{CRLF}"
    return head.encode("ascii") + b"\r\n" + body


# quoprimime's body table: a safe byte is itself, CR and LF are themselves, any other byte is =XX.
_QP_SAFE = b" !\"#$%&'()*+,-./0123456789:;<>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~\t\r\n"
_QP_TABLE = [chr(c) if c in _QP_SAFE else f"={c:02X}" for c in range(256)]
_WHITE = (" ", "\t")


def quoted_printable(data: str) -> str:
    """``quoprimime.body_encode(data, 78)``: ``data`` as latin-1 text, lines and soft breaks ending "\\n".

    The stdlib's own steps, done with less work: the quoting table is applied by ``str.replace`` when
    "=" is the only character it changes (the table, a Python lookup a character, was a third of the
    time), a line that needs no cut is taken whole, and the others are cut by the stdlib's loop,
    unchanged (``_cut``). ``tests/test_mime.py`` compares the two on edge cases and random text.
    """
    if not data:
        return data
    if data.encode("latin-1").translate(None, _QP_SAFE).strip(b"="):
        body = data.translate(_QP_TABLE)
    else:
        body = data.replace("=", "=3D")
    if "\r" in body:  # the stdlib's splitting: CR, LF and CRLF each end a line
        lines = body.splitlines()
        if body[-1] in "\r\n":
            lines.append("")
    else:  # the same lines, the last one empty when the text ends in a line break
        lines = body.split("\n")
    return "\n".join(
        [
            line if len(line) <= MAXLEN and not line.endswith(_WHITE) else _cut(line)
            for line in lines
        ]
    )


@lru_cache(maxsize=4096)
def _cut(line: str) -> str:
    """A quoted line cut as body_encode cuts it: pieces of at most 78, each but the last ending in a
    soft break, and white space at its end quoted (``quoprimime.body_encode``'s loop, as it is).

    Cached: most long lines are a template's own (a table's style, a sentence), the same in every
    message of a kind; only in this process's memory, as the cases they come from are.
    """
    pieces: list[str] = []
    append = pieces.append
    start = 0
    laststart = len(line) - 1 - MAXLEN
    while start <= laststart:
        stop = start + MAXLEN - 1  # room for the "=" of a soft break
        if line[stop - 2] == "=":  # never cut an =XX
            append(line[start : stop - 1])
            start = stop - 2
        elif line[stop - 1] == "=":
            append(line[start:stop])
            start = stop - 1
        else:
            append(line[start:stop] + "=")
            start = stop
    if line and line[-1] in _WHITE:
        room = start - laststart
        if room >= 3:
            q = f"={ord(line[-1]):02X}"
        elif room == 2:
            q = line[-1] + "=\n"
        else:
            q = f"=\n={ord(line[-1]):02X}"
        append(line[start:-1] + q)
    else:
        append(line[start:])
    return "\n".join(pieces)


def _base64(data: bytes) -> bytes:
    """base64 in lines of 76 (57 bytes a line), as ``email.contentmanager`` writes it."""
    step = MAXLEN // 4 * 3
    return b"".join(
        binascii.b2a_base64(data[i : i + step]) for i in range(0, len(data), step)
    ).replace(b"\n", b"\r\n")


@lru_cache(maxsize=256)
def _attachment_head(content_type: str, filename: str) -> bytes:
    """An attachment's headers as ``add_attachment(data, maintype, subtype, filename=)`` writes them."""
    part = EmailMessage(policy=SMTP)
    maintype, _, subtype = content_type.partition("/")
    part.set_content(b"", maintype=maintype, subtype=subtype, filename=filename)
    return b"".join(SMTP.fold_binary(name, value) for name, value in part.raw_items())


def attachment_part(att: OutAttachment) -> bytes:
    return _attachment_head(att.content_type, att.filename) + b"\r\n" + _base64(att.data)


def _boundary(parts: Sequence[bytes]) -> str:
    """A boundary of the stdlib's form (``===============<19 digits>==``) found in none of ``parts``."""
    while True:
        boundary = f"{'=' * 15}{random.randrange(sys.maxsize):0{_BOUNDARY_WIDTH}d}=="
        marker = f"--{boundary}".encode("ascii")
        if not any(marker in p for p in parts):
            return boundary


def multipart(subtype: str, parts: Sequence[bytes]) -> tuple[str, bytes]:
    """A multipart's Content-Type header and its body (the parts between boundaries), as the stdlib."""
    boundary = _boundary(parts)
    content_type = f'Content-Type: multipart/{subtype}; boundary="{boundary}"'
    if len(content_type) > MAXLEN:  # the stdlib folds it after the ";"
        content_type = f'Content-Type: multipart/{subtype};{CRLF} boundary="{boundary}"'
    content_type += CRLF
    delimiter = f"--{boundary}".encode("ascii")
    body = (
        delimiter
        + b"\r\n"
        + (b"\r\n" + delimiter + b"\r\n").join(parts)
        + b"\r\n"
        + delimiter
        + b"--\r\n"
    )
    return content_type, body


def message_bytes(
    headers: Iterable[tuple[str, str]],
    text: str,
    html: str,
    attachments: Sequence[OutAttachment] = (),
) -> bytes:
    """The message: ``headers`` in order, then MIME-Version and the parts.

    As ``EmailMessage``: ``set_content(text)``, ``add_alternative(html, subtype="html")``, then
    ``add_attachment`` for each attachment, written by ``as_bytes()`` with ``policy=SMTP``.
    """
    head = "".join(header(name, value) for name, value in headers)
    alternative = [text_part(text, "plain"), text_part(html, "html", mime_version=True)]
    content_type, body = multipart("alternative", alternative)
    if attachments:
        inner = content_type.encode("ascii") + b"\r\n" + body
        content_type, body = multipart("mixed", [inner, *map(attachment_part, attachments)])
    return (head + f"MIME-Version: 1.0{CRLF}" + content_type + CRLF).encode("ascii") + body
