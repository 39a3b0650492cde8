"""Turn the raw bytes of one inbound message into an ``InboundMessage``, whatever the bytes are.

The stdlib ``email`` package does the parsing: ``policy.default`` (``compat32`` when that fails;
a headers-only parse as the last resort) gives the MIME tree, headers in order, attachments with
their exact bytes, embedded ``message/rfc822`` parts and ``multipart/report``. Its header objects
are made only where a value is not plain (``_TEXT_POLICY``), and headers are decoded from their
raw text on demand: ``email.headerregistry`` decodes RFC 2047 encoded-words and reads the
sender, which ``parse_sender`` checks strictly (SPEC 3). inscriptis turns an HTML-only body into
the lines its reader sees. mail-parser (``mailparser.parse_from_bytes``) is asked only about odd
mail: body text and attachments it recovers when a broken boundary left the tree empty, a date
the stdlib cannot read, and its catalogue of what is wrong with a message the stdlib already
found defects in.
Every text decode falls back to utf-8 and then cp1252 with replacement, so nothing here raises.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import functools
import hashlib
import itertools
import logging
import quopri
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.generator import BytesGenerator
from email.headerregistry import AddressHeader, UnstructuredHeader
from email.message import Message
from email.parser import BytesFeedParser, BytesHeaderParser
from email.utils import getaddresses, parsedate_to_datetime
from functools import cache
from html import unescape
from io import BytesIO
from typing import Any

from cspr_mailbot.core.models import Attachment, InboundMessage

logger = logging.getLogger(__name__)

MAX_MIME_DEPTH = 40  # deeper nesting than this is hostile; its inner parts are ignored
MAX_PARTS = 1000  # parts looked at per message
MAX_FORWARD_DEPTH = 3  # how deep forwarded_messages() looks into messages attached to messages
MAX_FILENAME_CHARS = 150
_FEED_BYTES = 1024 * 1024  # the slice of a message handed to the MIME parser at a time
_FAST_BASE64_CHARS = 1024 * 1024  # a base64 part this long is decoded by binascii directly
# HTML bodies longer than this are not laid out by inscriptis (about 50 MB and 6 s a MiB of dense
# markup, so a 30 MB body took 1 GB): their text is taken tag by tag instead (``_rough_text``).
MAX_LAID_OUT_HTML = 1024 * 1024
_ROUGH_SLICE = 256 * 1024

_GEN_POLICY = email.policy.default.clone(refold_source="none", max_line_length=0)
_MSGID = re.compile(r"<([^<>\s]+)>")
_BODY_MSGID = re.compile(r"^[ \t>]*Message-ID:[ \t]*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_HEADER_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")  # tab is folding
_SPACE = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_SURROGATES = re.compile(r"[\udc80-\udcff]+")
_ADDRESS_LIKE = re.compile(r"[^\s<>()\[\],;:\"'@]+@[^\s<>()\[\],;:\"'@]+")
_XML_DECLARATION = re.compile(r"^<\?xml[^>]*\?>")
_INVISIBLE_START = re.compile(r"<!--|<(head|style|script|title)\b", re.IGNORECASE)
_CLOSERS = {
    t: re.compile(rf"</{t}\s*>", re.IGNORECASE) for t in ("head", "style", "script", "title")
}
_CLOSING_BODY = re.compile(r"</\s*(?:body|html)\s*>", re.IGNORECASE)
_BLOCK_TAG = re.compile(
    r"<\s*/?\s*(?:br|p|div|tr|li|h[1-6]|table|blockquote|hr|pre|ul|ol)\b[^>]*>", re.IGNORECASE
)
_CELL_TAG = re.compile(r"<\s*/\s*t[dh]\s*>", re.IGNORECASE)
_OTHER_TAG = re.compile(r"<[^>]*>")
_ROUGH_SPACES = re.compile(r"[^\S\t\n]+")
_ROUGH_AROUND_LINES = re.compile(r" ?\n ?")
_ROUGH_AROUND_TABS = re.compile(r" ?\t ?")
_ROUGH_BLANK_LINES = re.compile(r"\n(?:[ \t]*\n)+")
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be"))
_MESSAGE_TYPES = ("message/rfc822", "message/global")
_BODY_TYPES = ("text/plain", "text/html")
_STRUCTURE_DEFECTS = frozenset(
    {
        "BrokenMultipart",
        "StartBoundaryNotFoundDefect",
        "CloseBoundaryNotFoundDefect",
        "MultipartInvariantViolationDefect",
        "InvalidMultipartContentTransferEncodingDefect",
        "NoBoundaryInMultipartDefect",
    }
)
_EXTENSIONS = {
    "message/rfc822": ".eml",
    "message/global": ".eml",
    "message/delivery-status": ".txt",
    "text/rfc822-headers": ".txt",
    "text/plain": ".txt",
    "text/html": ".html",
    "application/pdf": ".pdf",
    "application/msword": ".doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}


# --------------------------------------------------------------------------- text decoding


def decode_bytes(data: bytes, charset: str | None = None) -> tuple[str, bool]:
    """Decode ``data`` with ``charset``, else utf-8, else cp1252 with replacement.

    Returns the text and whether the declared charset had to be abandoned (an unknown name or bytes
    that do not fit it).
    """
    if charset:
        name = charset.strip().strip('"').split("*", 1)[0].lower()
        try:
            return data.decode(name), False
        except (LookupError, UnicodeError, ValueError, TypeError):
            pass
    try:
        known = (charset or "utf-8").lower() in ("utf-8", "us-ascii")
        return data.decode("utf-8"), not known
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace"), True


def _undo_surrogates(value: str) -> str:
    """Bytes the parser could not decode travel as surrogates: decode each run of them for real.

    They come from 8-bit header bytes and from encoded-words in an unknown charset or cut in the
    middle of a character (a run spanning two adjacent words is one run, so the character mends).
    """
    if not _SURROGATES.search(value):
        return value
    return _SURROGATES.sub(
        lambda m: decode_bytes(m.group().encode("utf-8", "surrogateescape"))[0], value
    )


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", value).replace("\r", "").replace("\n", "")


def _decode_words(value: str) -> str:
    """RFC 2047 decoding by the stdlib's header parser, keeping undecodable bytes as surrogates.

    ``UnstructuredHeader.parse`` (email.headerregistry) drops the whitespace between adjacent
    encoded-words and records bad base64 or an unknown charset as defects instead of raising.
    """
    kwds: dict[str, Any] = {"defects": []}
    UnstructuredHeader.parse(value, kwds)
    return _undo_surrogates(str(kwds["decoded"]))


def _clean_header_text(text: str) -> str:
    """A decoded header never carries a line break or control character onwards: each is a space."""
    return _HEADER_CONTROL.sub(" ", text).strip()


def _decoded(value: str | Any) -> str:
    """A raw header value unfolded, its 8-bit bytes and encoded-words decoded. Never raises."""
    text = str(value)
    try:
        text = _undo_surrogates(_unfold(text))
        return _decode_words(text) if "=?" in text else text
    except Exception:  # noqa: BLE001 - a header must never stop a message
        return text.encode("utf-8", "replace").decode("utf-8", "replace")


def decode_header_value(value: str | Any) -> str:
    """Decode one raw header value: unfold, 8-bit bytes, RFC 2047 encoded-words. Never raises.

    Line breaks and other control characters that an encoded-word decodes to become spaces.
    """
    return _clean_header_text(_decoded(value))


# --------------------------------------------------------------------------- html to text


# inscriptis renders HTML as a browser lays it out (lxml underneath). Its "strict" profile is
# Firefox's defaults; mail clients zero paragraph margins (Outlook's p.MsoNormal {margin:0},
# Outlook on the web's P {margin-top:0;margin-bottom:0}), so a paragraph is one line here, not a
# line and a gap. inscriptis (and mail-parser, below) are imported when first needed: most mail
# has a plain-text part and is not odd, and every start would pay for them.
@cache
def _html_config() -> Any:
    from inscriptis.css_profiles import CSS_PROFILES
    from inscriptis.html_properties import Display
    from inscriptis.model.config import ParserConfig
    from inscriptis.model.html_element import HtmlElement

    css = dict(CSS_PROFILES["strict"])
    css["p"] = HtmlElement(display=Display.block)
    css["hr"] = HtmlElement(display=Display.block)
    return ParserConfig(css=css, table_cell_separator="\t")


_EMPTY_BLOCKS = ("p", "div")


def _blank_lines_for_empty_paragraphs(tree: Any) -> None:
    """``<p>&nbsp;</p>`` shows as an empty line in every client; an empty block without the
    no-break space shows as nothing. Give the first kind a ``<br>`` so the layout keeps it."""
    for el in tree.iter(*_EMPTY_BLOCKS):
        text = el.text_content()
        if "\xa0" in text and not text.strip() and not any(True for _ in el.iter("br")):
            for child in list(el):
                el.remove(child)
            el.text = None
            el.append(el.makeelement("br", {}))


def html_to_text(html: str) -> str:
    """The text of an HTML body as its reader sees it: one line per paragraph, ``<div>`` or
    ``<br>``, an empty paragraph as a blank line, table cells apart (a tab between them), entities
    decoded, no more than one blank line in a row. Never raises."""
    html = _undo_surrogates(html)
    if len(html) > MAX_LAID_OUT_HTML:
        return _rough_text(html)
    import lxml.html
    from inscriptis.html_engine import Inscriptis

    config = _html_config()
    text = ""
    try:
        # A list server's footer after </html> is shown by browsers; lxml would drop it.
        source = _CLOSING_BODY.sub("", _XML_DECLARATION.sub("", html.strip(), count=1))
        if source:
            tree = lxml.html.document_fromstring(source)
            _blank_lines_for_empty_paragraphs(tree)
            text = str(Inscriptis(tree, config).get_text())
    except Exception:  # noqa: BLE001 - hostile markup lxml refuses: strip the tags instead
        text = ""
    if not text.strip():
        # Markup lxml refused, or nested deeper than it reads (256 levels): keep the words.
        text = unescape(re.sub(r"<[^>]*>", " ", _visible_markup(html)))
    # Cell by cell (a tab between cells), runs of spaces become one: linear on any input.
    lines = [
        "\t".join(" ".join(cell.split()) for cell in line.split("\t")) for line in text.splitlines()
    ]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(line.strip() for line in lines)).strip()


def _rough_text(html: str) -> str:
    """The text of HTML too large to lay out: a line break for each block tag, a tab between
    table cells, nothing for other tags, entities decoded.

    Taken a slice at a time (each ending after a ``>``), so it costs the text it finds and one
    slice, whatever the size of the markup; an element hidden from view (``<style>``...) that
    spans two slices shows its tail.
    """
    pieces: list[str] = []
    start = 0
    while start < len(html):
        end = html.find(">", start + _ROUGH_SLICE)
        end = len(html) if end < 0 else end + 1
        if piece := _rough_slice(html[start:end]):
            pieces.append(piece)
        start = end
    return "\n".join(pieces)


def _rough_slice(html: str) -> str:
    text = _BLOCK_TAG.sub("\n", _visible_markup(html).replace("\r", " ").replace("\n", " "))
    text = unescape(_OTHER_TAG.sub("", _CELL_TAG.sub("\t", text)))
    text = _ROUGH_SPACES.sub(" ", text)
    text = _ROUGH_AROUND_TABS.sub("\t", _ROUGH_AROUND_LINES.sub("\n", text))
    return _ROUGH_BLANK_LINES.sub("\n", text).strip()


def _visible_markup(html: str) -> str:
    """``html`` without comments and head, style, script and title elements, in one pass (an
    unclosed one hides the rest, as in a browser)."""
    out: list[str] = []
    pos = 0
    while (m := _INVISIBLE_START.search(html, pos)) is not None:
        out.append(html[pos : m.start()])
        if m.group(1) is None:
            end = html.find("-->", m.end())
            pos = len(html) if end < 0 else end + 3
        else:
            closer = _CLOSERS[m.group(1).lower()].search(html, m.end())
            pos = len(html) if closer is None else closer.end()
    out.append(html[pos:])
    return " ".join(out)


# --------------------------------------------------------------------------- file names


def safe_filename(name: str | None, index: int, content_type: str = "") -> str:
    """A bare, harmless file name: no directories, control characters or ``..``.

    ``index`` (1-based) names the fallback ``attachment-N`` with an extension from the content type.
    """
    text = _decoded(name).strip() if name else ""
    text = unicodedata.normalize("NFC", _CONTROL.sub("", text))
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = re.sub(r'[:*?"<>|]', "_", text)
    text = re.sub(r"\.{2,}", ".", text).strip(" .")
    if len(text) > MAX_FILENAME_CHARS:
        stem, dot, ext = text.rpartition(".")
        ext = ext if dot and len(ext) <= 10 else ""
        keep = MAX_FILENAME_CHARS - len(ext) - 1
        text = f"{(stem or text)[:keep].rstrip(' .')}.{ext}" if ext else text[:MAX_FILENAME_CHARS]
    if not text:
        text = f"attachment-{index}{_EXTENSIONS.get(content_type, '.bin')}"
    return text


# --------------------------------------------------------------------------- header text

# Every Content-Type, -Disposition and -Transfer-Encoding the MIME tree is asked about (by the
# parser itself for boundaries, by ``get_content_type``, ``get_param``, ``get_payload`` ...) is
# read through the policy's ``header_fetch_parse``. ``policy.default`` builds a header object for
# each of those reads (a parse, and a new class, every time: about 30 reads a message), and the
# ``email.message`` methods then use only its text. ``_TEXT_POLICY`` is ``policy.default`` handing
# back that text itself: taken straight from the source when the value is in the plain shape
# almost all mail uses (``_fast_header_text``), else from the header object, remembered.
_LINESEP = re.compile(r"\r|\n")
_FAST_NAMES = frozenset({"content-type", "content-disposition", "content-transfer-encoding"})
_TOKEN = r"[A-Za-z0-9!#$&+\-.^_`|~]+"
_FAST_VALUE = re.compile(
    rf"(?P<head>{_TOKEN}(?:/{_TOKEN})?)(?P<params>(?:;[ \t]*[A-Za-z0-9\-_.]+="
    rf"(?:{_TOKEN}|\"[!#-\[\]-~]+(?: [!#-\[\]-~]+)*\"))*)[ \t]*"
)
_FAST_PARAM = re.compile(rf";[ \t]*([A-Za-z0-9\-_.]+)=(?:({_TOKEN})|\"([^\"]*)\")")
_CACHED_HEADER_CHARS = 1000  # longer values are parsed each time rather than remembered


def _fast_header_text(name: str, value: str) -> str | None:
    """``str(policy.default.header_factory(name, value))`` for a MIME header in the plain shape,
    computed directly; None for any other value or header.

    The plain shape: ``type/subtype`` (a bare token for a disposition or transfer encoding) and
    ``; name=value`` parameters (not for a transfer encoding), each a token or a quoted string of
    printable ASCII words (no backslash, no encoded-word, no RFC 2231 ``*``), every name once. The
    header object's text is then the type as written and each parameter as ``; name="value"``;
    ``tests/test_message_headers.py`` checks that against the header registry on generated values.
    """
    if name.lower() not in _FAST_NAMES:
        return None
    m = _FAST_VALUE.fullmatch(value)
    if m is None or "=?" in value:
        return None
    head, params = m.group("head"), m.group("params")
    if ("/" in head) != (name.lower() == "content-type"):
        return None
    if not params or name.lower() == "content-transfer-encoding":
        return head if value == head else None
    pairs = [(a, t or q) for a, t, q in _FAST_PARAM.findall(params)]  # a token is never empty
    if len({a.lower() for a, _ in pairs}) != len(pairs):
        return None
    return head + "".join(f'; {a}="{v}"' for a, v in pairs)


def _header_text_of(name: str, value: str) -> str:
    fast = _fast_header_text(name, value)
    return fast if fast is not None else str(email.policy.default.header_factory(name, value))


# A part's headers are asked for a dozen times in a parse: the text is remembered (it depends on
# the name and the value alone; a header the registry cannot read raises again each time).
_remembered_header_text = functools.lru_cache(maxsize=512)(_header_text_of)


def header_text(name: str, value: str) -> str:
    """The text ``policy.default`` gives for a header read from a parsed message: the value
    with line breaks removed, as its ``email.headerregistry`` header object reads it."""
    value = _LINESEP.sub("", value)
    if len(value) > _CACHED_HEADER_CHARS:
        return _header_text_of(name, value)
    return _remembered_header_text(name.lower(), value)


class _TextHeaderPolicy(email.policy.EmailPolicy):
    """``policy.default`` whose messages hand back a header's text, not a header object."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name"):  # a header object set on the message: as policy.default
            return value
        return header_text(name, value)


_TEXT_POLICY = _TextHeaderPolicy()


# --------------------------------------------------------------------------- the MIME walk


class _Walk:
    """What one pass over the MIME tree found."""

    def __init__(self) -> None:
        self.plain: list[str] = []
        self.html: list[str] = []
        self.broken: list[str] = []  # the raw text of multiparts whose boundary was not found
        self.attachments: list[Attachment] = []
        self.defects: list[str] = []
        self.types: list[str] = []  # every part's content type, in walk order
        self.parts = 0

    def defect(self, text: str) -> None:
        if text not in self.defects:
            self.defects.append(text)


def _flatten(msg: Any) -> bytes:
    buf = BytesIO()
    try:
        BytesGenerator(buf, mangle_from_=False, policy=_GEN_POLICY).flatten(msg)
    except Exception:  # noqa: BLE001 - the generator on a broken tree; keep what the parser saw
        buf = BytesIO(str(msg.get_payload()).encode("utf-8", "surrogateescape"))
    return buf.getvalue()


def _message_part_bytes(part: Message) -> bytes:
    """The bytes of an embedded message, undoing a base64 or quoted-printable wrapping."""
    payload = part.get_payload()
    if isinstance(payload, list):
        data = b"\n".join(_flatten(sub) for sub in payload if isinstance(sub, Message))
    elif isinstance(payload, str):
        data = payload.encode("utf-8", "surrogateescape")
    else:
        return b""
    cte = str(part.get("content-transfer-encoding", "") or "").strip().lower()
    if cte == "base64":
        cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        try:
            return base64.b64decode(cleaned + b"=" * (-len(cleaned) % 4))
        except (binascii.Error, ValueError):
            return data
    if cte == "quoted-printable":
        return quopri.decodestring(data)
    return data


def _param(part: Message, name: str, header: str) -> str | None:
    value = part.get_param(name, header=header)
    if value is None:
        return None
    if isinstance(value, tuple):  # compat32 gives RFC 2231 values as (charset, language, text)
        return decode_bytes(email.utils.collapse_rfc2231_value(value).encode("latin-1", "replace"))[
            0
        ]
    return str(value)


def _filename_of(part: Message) -> str | None:
    for name, header in (("filename", "content-disposition"), ("name", "content-type")):
        try:
            value = _param(part, name, header)
        except Exception:  # noqa: BLE001 - a broken parameter is no name
            value = None
        if value and value.strip():
            return value
    return None


def _large_base64(part: Message) -> bytes | None:
    """A large base64 part decoded in one step, or None to leave it to the stdlib.

    ``get_payload(decode=True)`` encodes the text to bytes, splits it into lines and joins them
    before decoding: five copies of a 25 MB attachment at once. ``binascii.a2b_base64`` reads the
    text as it is, skipping line breaks. Anything odd (bad padding, 8-bit bytes) goes the
    stdlib's way, which records what was wrong.
    """
    payload = part.get_payload()
    if not isinstance(payload, str) or len(payload) < _FAST_BASE64_CHARS:
        return None
    if str(part.get("content-transfer-encoding", "")).strip().lower() != "base64":
        return None
    if not payload.isascii():
        return None
    try:
        return binascii.a2b_base64(payload)
    except (binascii.Error, ValueError):
        return None


def _leaf_bytes(part: Message, walk: _Walk) -> bytes:
    fast = _large_base64(part)
    data = part.get_payload(decode=True) if fast is None else fast
    for d in part.defects:
        walk.defect(type(d).__name__)
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""


def _walk(part: Message, walk: _Walk, depth: int, body_allowed: bool) -> None:
    walk.parts += 1
    if walk.parts > MAX_PARTS:
        walk.defect("TooManyParts")
        return
    if depth > MAX_MIME_DEPTH:
        walk.defect("NestingTooDeep")
        return
    for d in part.defects:
        walk.defect(type(d).__name__)
    ctype = part.get_content_type()
    maintype = ctype.split("/")[0]  # as part.get_content_maintype() has it
    walk.types.append(ctype)
    filename = _filename_of(part)
    index = len(walk.attachments) + 1
    if ctype in _MESSAGE_TYPES or (maintype == "message" and part.is_multipart()):
        data = _message_part_bytes(part)
        name = safe_filename(filename, index, ctype)
        walk.attachments.append(Attachment(name, ctype, data))
        return
    if part.is_multipart():
        subparts = [p for p in part.get_payload() if isinstance(p, Message)]
        if ctype == "multipart/report":
            # The human-readable first part is the body; the machine parts are attachments.
            for i, sub in enumerate(subparts):
                _walk(sub, walk, depth + 1, body_allowed and i == 0)
            return
        for sub in subparts:
            _walk(sub, walk, depth + 1, body_allowed)
        return
    if maintype == "multipart":
        # A multipart whose boundary was never found: its text is all there is of the body.
        walk.defect("BrokenMultipart")
        if body_allowed:
            walk.broken.append(decode_bytes(_leaf_bytes(part, walk))[0])
        return
    disposition = (part.get_content_disposition() or "").lower()
    if body_allowed and ctype in _BODY_TYPES and not filename and disposition != "attachment":
        charset = part.get_content_charset()
        text, replaced = decode_bytes(_leaf_bytes(part, walk), charset)
        if replaced:
            walk.defect(f"CharsetFallback: {charset}")
        (walk.plain if ctype == "text/plain" else walk.html).append(text)
        return
    data = _leaf_bytes(part, walk)
    walk.attachments.append(Attachment(safe_filename(filename, index, ctype), ctype, data))


# --------------------------------------------------------------------------- headers


def _raw_headers(msg: Message) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name, value in msg.raw_items():
        out.append((str(name).strip().lower(), decode_header_value(value)))
    return out


def _first(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def _raw_first(msg: Message, name: str) -> str:
    for key, value in msg.raw_items():
        if str(key).strip().lower() == name:
            return _unfold(_undo_surrogates(str(value))).strip()
    return ""


def _raw_all(msg: Message, name: str) -> list[str]:
    """Every raw value of header ``name``, as the bytes had it (8-bit bytes still surrogates)."""
    return [str(v) for k, v in msg.raw_items() if str(k).strip().lower() == name]


def _addresses(raw: str) -> list[tuple[str, str]]:
    """(decoded name, lower-case address) pairs from a raw address header."""
    if not raw:
        return []
    try:
        pairs = getaddresses([raw])
    except Exception:  # noqa: BLE001 - malformed address lists
        pairs = []
    out = [(decode_header_value(n), a.strip().lower()) for n, a in pairs if a and "@" in a]
    if not out:  # the parser gave up: take anything that looks like an address
        out = [("", a.lower()) for a in re.findall(r"[^\s<>,;:\"']+@[^\s<>,;:\"']+", raw)]
    return out


def _message_id(value: str | None) -> str | None:
    if not value:
        return None
    m = _MSGID.search(value)
    if m:
        return f"<{m.group(1)}>"
    token = value.strip().split()[0] if value.strip() else ""
    return f"<{token.strip('<>')}>" if token.strip("<>") else None


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except Exception:  # noqa: BLE001 - any garbage in a Date header
        return None
    if parsed is None:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# --------------------------------------------------------------------------- the sender


@dataclass(frozen=True)
class Sender:
    """Who a message is from (SPEC 3): the single address in ``From:``, parsed strictly."""

    addr: str = ""  # lower-case; "" when there is none, or when the sender is ambiguous
    name: str = ""
    ambiguous: bool = False
    why: str = ""  # for the log: what made it ambiguous


def _bare(value: str) -> str:
    """An address header without its comments, for the null-path test."""
    return re.sub(r"\((?:[^()\\]|\\.)*\)", " ", value)


def is_null_path(value: str) -> bool:
    """``<>`` in any spacing, with or without comments, or nothing at all: a null reverse path."""
    return re.fullmatch(r"\s*(<\s*>)?\s*", _bare(value)) is not None


def parse_sender(from_values: list[str]) -> Sender:
    """The sender from the raw ``From:`` values of a message (normally exactly one). Never raises.

    Ambiguous, with no address taken: more than one ``From:`` field; more than one address, or a
    group; a line break or control character anywhere once encoded-words are decoded; an address
    anywhere in the field (display name, comment, encoded-word) other than the sender's own; a
    field the stdlib's two address parsers (``email.headerregistry`` and ``email.utils``) read
    differently. A field with no address at all (``<>``, a bare word) is no sender, not ambiguous.
    """
    try:
        return _read_sender(from_values)
    except Exception:  # noqa: BLE001 - whatever this field is, it is not one clear address
        return Sender(ambiguous=True, why="From: cannot be read")


_PLAIN_ADDR = r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
# ``Jane Smith <jane.smith@agency.example.org>`` or ``jane.smith@agency.example.org``: display-name
# words of letters and digits, one space apart, nothing else in the field.
_PLAIN_FROM = re.compile(
    rf"(?:(?:(?P<name>[A-Za-z0-9]+(?: [A-Za-z0-9]+)*) )?<(?P<addr>{_PLAIN_ADDR})>"
    rf"|(?P<bare>{_PLAIN_ADDR}))"
)


def _read_sender(from_values: list[str]) -> Sender:
    if not from_values:
        return Sender()
    if len(from_values) > 1:
        return Sender(ambiguous=True, why="more than one From: field")
    raw = _undo_surrogates(_unfold(from_values[0]))
    plain = _PLAIN_FROM.fullmatch(raw)
    if plain is not None:
        # Words and one address of plain ASCII: every reading in _strict_sender agrees on it
        # (tests/test_message_headers.py), and its address parser costs 0.3-0.6 ms a message.
        return Sender(addr=(plain["addr"] or plain["bare"]).lower(), name=plain["name"] or "")
    return _strict_sender(raw)


def _strict_sender(raw: str) -> Sender:
    """The sender from the unfolded ``From:`` value, by every rule of ``parse_sender``."""
    try:
        decoded = _decode_words(raw) if "=?" in raw else raw
    except Exception:  # noqa: BLE001 - undecodable: judge the raw text
        decoded = raw
    if _HEADER_CONTROL.search(decoded):
        return Sender(ambiguous=True, why="From: decodes to a line break or control character")
    seen = {a.lower() for a in _ADDRESS_LIKE.findall(decoded)}
    if not seen:
        return Sender()
    if len(seen) > 1:
        return Sender(ambiguous=True, why="From: holds more than one address")
    (expected,) = seen
    try:
        kwds: dict[str, Any] = {"defects": []}
        AddressHeader.parse(raw, kwds)  # raises on CR/LF in a part, on some group shapes
        groups = kwds["groups"]
    except Exception:  # noqa: BLE001 - the parser refuses it: so do we
        return Sender(ambiguous=True, why="From: cannot be parsed as one address")
    mailboxes = [a for g in groups for a in g.addresses]
    if any(g.display_name is not None for g in groups):
        return Sender(ambiguous=True, why="From: is a group")
    real = [a for a in mailboxes if a.domain]
    if len(real) != 1:
        return Sender(ambiguous=True, why="From: holds more or fewer than one address")
    addr = _undo_surrogates(real[0].addr_spec).lower()
    legacy = [(n, a.strip().lower()) for n, a in getaddresses([raw]) if "@" in a]
    if addr != expected or {a for _, a in legacy} != {addr} or _SPACE.search(addr):
        return Sender(ambiguous=True, why="From: reads differently to different parsers")
    # email.utils keeps an old-style "addr (Name)" comment as the name, and decoding the name on
    # its own drops the space between adjacent encoded-words, as RFC 2047 asks.
    return Sender(addr=addr, name=decode_header_value(legacy[0][0]))


# --------------------------------------------------------------------------- mail-parser


@dataclass
class _MailParserView:
    """What mail-parser found; empty when it could not parse the message."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    date: datetime | None = None
    defects: list[str] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)

    def attachment_values(self) -> list[Attachment]:
        """mail-parser's attachments as ours: its payloads are base64 text when ``binary``."""
        out: list[Attachment] = []
        for i, att in enumerate(self.attachments, start=1):
            payload = att.get("payload") or ""
            ctype = str(att.get("mail_content_type") or "application/octet-stream").lower()
            if att.get("binary"):
                try:
                    data = base64.b64decode(payload)
                except (binascii.Error, ValueError):
                    data = str(payload).encode("utf-8", "replace")
            else:
                data = str(payload).encode("utf-8", "surrogateescape")
            out.append(Attachment(safe_filename(att.get("filename"), i, ctype), ctype, data))
        return out


def _mailparser_view(raw: bytes) -> _MailParserView:
    import mailparser

    try:
        mp = mailparser.parse_from_bytes(raw)
        date = mp.date if isinstance(mp.date, datetime) else None
        if date is not None and date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
        return _MailParserView(
            plain=[t for t in mp.text_plain if isinstance(t, str)],
            html=[t for t in mp.text_html if isinstance(t, str)],
            date=date,
            defects=sorted(str(c) for c in mp.defects_categories),
            attachments=[a for a in mp.attachments if isinstance(a, dict)],
        )
    except Exception as exc:  # noqa: BLE001 - mail-parser is a helper, never a reason to fail
        return _MailParserView(defects=[f"MailParserFailed: {type(exc).__name__}"])


# --------------------------------------------------------------------------- parse_message


def _parse_bytes(raw: bytes, policy: Any) -> Message:
    """The MIME tree of ``raw``, the bytes fed to the stdlib's parser a slice at a time.

    ``BytesParser.parsebytes`` decodes the whole message into one str and reads it back through
    a ``StringIO``, which holds 4 bytes a character: a 34 MB message cost 250 MB before a part
    was decoded. Fed in slices, the parser holds the lines of the part it is in and no more.
    """
    parser = BytesFeedParser(policy=policy)
    view = memoryview(raw)
    for start in range(0, len(raw), _FEED_BYTES):
        parser.feed(bytes(view[start : start + _FEED_BYTES]))
    return parser.close()


def _parse_with(raw: bytes, uid: str, policy: Any, mp: _MailParserView) -> InboundMessage:
    msg = _parse_bytes(raw, policy)
    walk = _Walk()
    _walk(msg, walk, 0, True)
    return _build(raw, uid, msg, walk, mp)


def _parse_headers_only(raw: bytes, uid: str, mp: _MailParserView) -> InboundMessage:
    msg = BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    walk = _Walk()
    walk.defect("HeadersOnlyParse")
    body = msg.get_payload()
    if isinstance(body, str):
        walk.plain.append(_undo_surrogates(body))
    return _build(raw, uid, msg, walk, mp)


def _build(raw: bytes, uid: str, msg: Message, walk: _Walk, mp: _MailParserView) -> InboundMessage:
    headers = _raw_headers(msg)
    from_values = _raw_all(msg, "from")
    sender = parse_sender(from_values)
    if sender.ambiguous:
        logger.warning("uid %s: ambiguous sender (%s)", uid, sender.why)
    null_sender = any(is_null_path(v) for v in _raw_all(msg, "return-path")) or (
        bool(from_values)
        and not sender.addr
        and not sender.ambiguous
        and (is_null_path(from_values[0]) or re.search(r"<\s*>", _bare(from_values[0])) is not None)
    )
    date_value = _first(headers, "date")
    date = _parse_date(date_value)
    if date is None and date_value:
        date = mp.date
        walk.defect("UnparseableDate" if date is None else "LenientDate")

    plain = "\n".join(t for t in walk.plain if t.strip())
    html = "\n".join(t for t in walk.html if t.strip())
    attachments = walk.attachments
    if _STRUCTURE_DEFECTS.intersection(walk.defects):
        # A broken boundary left the tree without a body or attachments: take what mail-parser
        # recovered from the epilogue, else the broken part's raw text, so a person can read it.
        if not plain.strip() and not html.strip():
            if any(t.strip() for t in (*mp.plain, *mp.html)):
                plain, html = "\n".join(mp.plain), "\n".join(mp.html)
                walk.defect("BodyRecoveredByMailParser")
            else:
                plain = "\n".join(walk.broken)
        if not attachments and mp.attachments:
            attachments = mp.attachment_values()
            walk.defect("AttachmentsRecoveredByMailParser")
    body_text = plain if plain.strip() else html_to_text(html) if html else plain

    try:
        content_type = msg.get_content_type()
    except Exception:  # noqa: BLE001
        content_type = "text/plain"
    report_type: str | None = None
    if content_type == "multipart/report":
        try:
            value = _param(msg, "report-type", "content-type")
        except Exception:  # noqa: BLE001
            value = None
        report_type = value.strip().lower() if value else None

    references = tuple(
        f"<{m}>"
        for value in (v for k, v in headers if k == "references")
        for m in _MSGID.findall(value)
    )
    defects = list(walk.defects)
    if defects:  # the stdlib saw something wrong: mail-parser's account of it too
        for category in mp.defects:
            if category not in defects:
                defects.append(category)

    return InboundMessage(
        uid=uid,
        sha256=hashlib.sha256(raw).hexdigest(),
        message_id=_message_id(_first(headers, "message-id")),
        from_addr=sender.addr,
        from_name=sender.name,
        to=tuple(a for _, a in _addresses(_raw_first(msg, "to"))),
        cc=tuple(a for _, a in _addresses(_raw_first(msg, "cc"))),
        subject=_first(headers, "subject") or "",
        date=date,
        headers=tuple(headers),
        in_reply_to=_message_id(_first(headers, "in-reply-to")),
        references=references,
        body_text=body_text,
        content_type=content_type,
        report_type=report_type,
        attachments=tuple(attachments),
        defects=tuple(defects),
        sender_ambiguous=sender.ambiguous,
        null_sender=null_sender,
        part_types=tuple(walk.types),
    )


class _LazyMailParser:
    """mail-parser's view, made only when asked for: it is a second full parse of the message,
    needed only for odd mail (a date the stdlib cannot read, a broken structure, defects to list)."""

    def __init__(self, raw: bytes) -> None:
        self._raw = raw
        self._view: _MailParserView | None = None

    def __getattr__(self, name: str) -> Any:
        if self._view is None:
            self._view = _mailparser_view(self._raw)
        return getattr(self._view, name)


def _without_bom(raw: bytes) -> bytes | None:
    """The message without a leading byte-order mark (a saved .eml sometimes has one), or None.

    A UTF-16 mark means the whole file was saved as UTF-16: it is read back to utf-8 bytes.
    """
    for bom, codec in _BOMS:
        if raw.startswith(bom):
            rest = raw[len(bom) :]
            return rest if codec == "utf-8" else rest.decode(codec, "replace").encode("utf-8")
    return None


def parse_message(raw: bytes, uid: str) -> InboundMessage:
    """Parse one raw message. Never raises: the worse the bytes, the emptier the result.

    ``sha256`` is always of the bytes as given, a leading byte-order mark included.
    """
    raw = bytes(raw)
    unmarked = _without_bom(raw)
    if unmarked is None:
        return _parse(raw, uid)
    parsed = _parse(unmarked, uid)
    return replace(
        parsed,
        sha256=hashlib.sha256(raw).hexdigest(),
        defects=(*parsed.defects, "LeadingByteOrderMark"),
    )


def _parse(raw: bytes, uid: str) -> InboundMessage:
    mp: Any = _LazyMailParser(raw)
    attempts: list[tuple[str, Any]] = [
        ("default", _TEXT_POLICY),
        ("compat32", email.policy.compat32),
    ]
    for label, policy in attempts:
        try:
            parsed = _parse_with(raw, uid, policy, mp)
        except Exception as exc:  # noqa: BLE001 - RecursionError, parser bugs: try the next way
            logger.warning("uid %s: %s parse failed (%s)", uid, label, type(exc).__name__)
            continue
        if label != "default":
            parsed = _with_defect(parsed, f"ParsedWith{label}")
        return parsed
    try:
        return _parse_headers_only(raw, uid, mp)
    except Exception as exc:  # noqa: BLE001
        logger.warning("uid %s: headers-only parse failed (%s)", uid, type(exc).__name__)
    return InboundMessage(
        uid=uid,
        sha256=hashlib.sha256(raw).hexdigest(),
        message_id=None,
        from_addr="",
        from_name="",
        to=(),
        cc=(),
        subject="",
        date=None,
        headers=(),
        in_reply_to=None,
        references=(),
        body_text=decode_bytes(raw)[0],
        content_type="text/plain",
        report_type=None,
        defects=("Unparseable",),
    )


def _with_defect(msg: InboundMessage, defect: str) -> InboundMessage:
    return replace(msg, defects=(*msg.defects, defect))


# --------------------------------------------------------------------------- forwards and bounces


def _iter_forwarded(msg: InboundMessage, depth: int) -> Iterator[InboundMessage]:
    if depth >= MAX_FORWARD_DEPTH:
        return
    n = 0
    for att in msg.attachments:
        if att.content_type in _MESSAGE_TYPES:
            n += 1
            inner = parse_message(att.data, f"{msg.uid}/{n}")
            yield inner
            yield from _iter_forwarded(inner, depth + 1)


def forwarded_messages(msg: InboundMessage) -> list[InboundMessage]:
    """The messages attached to ``msg`` as message/rfc822, parsed; nested ones too, to depth 3.

    Each gets the uid ``<outer uid>/<n>`` (``7/1``, ``7/1/2``...), depth-first in attachment order.
    """
    return list(_iter_forwarded(msg, 0))


def original_message_id_of_bounce(msg: InboundMessage) -> str | None:
    """The Message-ID of the message a delivery report is about, when the report carries it.

    Looks in an attached original (message/rfc822), in returned headers (text/rfc822-headers), and
    last in the body text of a classic bounce that quotes the original's headers.
    """
    for att in msg.attachments:
        if att.content_type in _MESSAGE_TYPES or att.content_type == "text/rfc822-headers":
            try:
                headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(att.data)
                found = _message_id(decode_header_value(headers.get("message-id", "") or ""))
            except Exception:  # noqa: BLE001
                found = None
            if found:
                return found
    own = msg.message_id
    texts = itertools.chain(
        [msg.body_text],
        (
            decode_bytes(att.data)[0]
            for att in msg.attachments
            if att.content_type.startswith("text/") and len(att.data) < 1_000_000
        ),
    )
    for text in texts:
        for m in _BODY_MSGID.finditer(text):
            if m.group(1) != own:
                return m.group(1)
    return None
