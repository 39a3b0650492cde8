"""Turn the raw bytes of one inbound message into an ``InboundMessage``, whatever the bytes are.

Two parsers work together. The stdlib ``email`` package (``policy.default``; ``compat32`` when
that fails; a headers-only parse as the last resort) gives the MIME tree: headers in order,
addresses, attachments with their exact bytes, embedded ``message/rfc822`` parts and
``multipart/report``. mail-parser (``mailparser.parse_from_bytes``) runs beside it for what it
does well: the catalogue of MIME defects it finds, body text it recovers from a broken epilogue
when the tree has none, and lenient dates. Every text decode falls back to utf-8 and then cp1252
with replacement, so nothing here raises.
"""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import hashlib
import logging
import quopri
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser
from io import BytesIO
from typing import Any

import mailparser

from cspr_mailbot.core.models import Attachment, InboundMessage

logger = logging.getLogger(__name__)

MAX_MIME_DEPTH = 40  # deeper nesting than this is hostile; its inner parts are ignored
MAX_PARTS = 1000  # parts looked at per message
MAX_FORWARD_DEPTH = 3  # how deep forwarded_messages() looks into messages attached to messages
MAX_FILENAME_CHARS = 150

_GEN_POLICY = email.policy.default.clone(refold_source="none", max_line_length=0)
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_MSGID = re.compile(r"<([^<>\s]+)>")
_BODY_MSGID = re.compile(r"^[ \t>]*Message-ID:[ \t]*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
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
    """Header text from a bytes parse carries 8-bit bytes as surrogates: decode them for real."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    return decode_bytes(value.encode("utf-8", "surrogateescape"))[0]


def _decode_word(charset: str, encoding: str, text: str) -> bytes:
    if encoding.lower() == "b":
        cleaned = re.sub(r"[^A-Za-z0-9+/]", "", text)
        cleaned += "=" * (-len(cleaned) % 4)
        try:
            return base64.b64decode(cleaned)
        except (binascii.Error, ValueError):
            return text.encode("utf-8", "replace")
    return quopri.decodestring(text.replace("_", " ").encode("utf-8", "replace"), header=True)


def decode_header_value(value: str | Any) -> str:
    """Decode one raw header value: unfold, 8-bit bytes, RFC 2047 encoded-words. Never raises."""
    try:
        text = _undo_surrogates(str(value))
        text = re.sub(r"\r?\n(?=[ \t])", "", text).replace("\r", "").replace("\n", "")
        if "=?" not in text:
            return text.strip()
        out: list[str] = []
        pending: list[bytes] = []
        pending_charset = ""
        pos = 0
        prev_encoded = False

        def flush() -> None:
            nonlocal pending, pending_charset
            if pending:
                out.append(decode_bytes(b"".join(pending), pending_charset)[0])
            pending, pending_charset = [], ""

        for m in _ENCODED_WORD.finditer(text):
            between = text[pos : m.start()]
            charset = m.group(1).split("*", 1)[0]
            if prev_encoded and not between.strip():
                # Whitespace between encoded-words is dropped; same-charset neighbours are joined
                # before decoding, as encoders split multi-byte characters across words.
                if charset.lower() != pending_charset.lower():
                    flush()
            else:
                flush()
                out.append(between)
            pending_charset = charset
            pending.append(_decode_word(charset, m.group(2), m.group(3)))
            pos = m.end()
            prev_encoded = True
        flush()
        out.append(text[pos:])
        return "".join(out).strip()
    except Exception:  # noqa: BLE001 - a header must never stop a message
        return str(value).encode("utf-8", "replace").decode("utf-8", "replace").strip()


# --------------------------------------------------------------------------- html to text


class _HTMLText(HTMLParser):
    _BLOCK = {
        "p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6",
        "blockquote", "pre", "hr", "section", "article", "header", "footer", "dt", "dd",
    }  # fmt: skip
    _SKIP = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Readable plain text from an HTML body: block tags become line breaks, entities decoded."""
    parser = _HTMLText()
    try:
        parser.feed(html)
        parser.close()
        text = "".join(parser.parts)
    except Exception:  # noqa: BLE001 - html.parser on hostile input; fall back to stripping tags
        text = re.sub(r"<[^>]*>", " ", html)
    # A tab between table cells keeps "Label | value" rows apart for the body reader.
    lines = [
        re.sub(r"[ \xa0]+", " ", re.sub(r"[ \xa0]*\t[ \t\xa0]*", "\t", line)).strip()
        for line in text.splitlines()
    ]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --------------------------------------------------------------------------- file names


def safe_filename(name: str | None, index: int, content_type: str = "") -> str:
    """A bare, harmless file name: no directories, control characters or ``..``.

    ``index`` (1-based) names the fallback ``attachment-N`` with an extension from the content type.
    """
    text = decode_header_value(name) if name else ""
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


# --------------------------------------------------------------------------- the MIME walk


class _Walk:
    """What one pass over the MIME tree found."""

    def __init__(self) -> None:
        self.plain: list[str] = []
        self.html: list[str] = []
        self.broken: list[str] = []  # the raw text of multiparts whose boundary was not found
        self.attachments: list[Attachment] = []
        self.defects: list[str] = []
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


def _leaf_bytes(part: Message, walk: _Walk) -> bytes:
    data = part.get_payload(decode=True)
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
    filename = _filename_of(part)
    index = len(walk.attachments) + 1
    if ctype in _MESSAGE_TYPES or (
        part.get_content_maintype() == "message" and part.is_multipart()
    ):
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
    if part.get_content_maintype() == "multipart":
        # A multipart whose boundary was never found: its text is all there is of the body.
        walk.defect("BrokenMultipart")
        if body_allowed:
            walk.broken.append(decode_bytes(_leaf_bytes(part, walk))[0])
        return
    disposition = (part.get_content_disposition() or "").lower()
    if body_allowed and ctype in _BODY_TYPES and not filename and disposition != "attachment":
        text, replaced = decode_bytes(_leaf_bytes(part, walk), part.get_content_charset())
        if replaced:
            walk.defect(f"CharsetFallback: {part.get_content_charset()}")
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
            return re.sub(r"\r?\n(?=[ \t])", "", _undo_surrogates(str(value))).strip()
    return ""


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


def _parse_with(raw: bytes, uid: str, policy: Any, mp: _MailParserView) -> InboundMessage:
    msg = BytesParser(policy=policy).parsebytes(raw)
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
    senders = _addresses(_raw_first(msg, "from")) or _addresses(_raw_first(msg, "sender"))
    from_name, from_addr = senders[0] if senders else ("", "")
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
        from_addr=from_addr,
        from_name=from_name,
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


def parse_message(raw: bytes, uid: str) -> InboundMessage:
    """Parse one raw message. Never raises: the worse the bytes, the emptier the result."""
    raw = bytes(raw)
    mp: Any = _LazyMailParser(raw)
    attempts: list[tuple[str, Any]] = [
        ("default", email.policy.default),
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
    for candidate in _BODY_MSGID.findall(msg.body_text):
        if candidate != own:
            return candidate
    for att in msg.attachments:
        if att.content_type.startswith("text/") and len(att.data) < 1_000_000:
            for candidate in _BODY_MSGID.findall(decode_bytes(att.data)[0]):
                if candidate != own:
                    return candidate
    return None
