"""Render an OutboundMessage into a MIME message with Jinja2: text and HTML parts, SPEC 5 headers.

Templates come from ``templates/`` (shipped inside the package too); a partnership's own folder, if configured,
is searched first, so it can override any one template without touching code.

The privacy guard is the backstop behind the core's contexts (SPEC 5): mail for anyone outside the
coordinators is searched, subject, text, HTML, attachment names and the text of every attached .docx, for
the child's name (whole and each part), date of birth (UK and ISO forms), address and NHS number, and is
withheld if it names the child. The one exception is a message the core wrote to name the child for a
trusted agency: the guard then checks each of its addresses against the trust rule again, at the time of
sending, and that its subject and file names do not name the child, and tags it for encryption. Words that
occur in the partnership's name, the mailbox address, the directory's agency names and the templates' own
text are not searched for alone: a child recorded as "Dudley" must not stop every message of the
Dudley partnership (the whole name is still searched for).
"""

from __future__ import annotations

import hashlib
import html as htmllib
import io
import logging
import os
import re
import stat
import time
import zipfile
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import format_datetime, formataddr, getaddresses, make_msgid
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from ..core.models import DocumentRequest, OutAttachment, OutboundMessage
from ..core.trust import Trust
from ..errors import PrivacyError
from .documents import DocumentBuilder
from .mime import message_bytes

logger = logging.getLogger(__name__)

OUR_HEADER = "X-CSPR-Mailbot"
COMPILED_TEMPLATES = "compiled-templates"  # the folder beside the store that keeps them compiled
RECHECK_SECONDS = 1.0  # a template changed while the daemon runs is used from this long after


def packaged_templates() -> Path:
    """The templates shipped with the package, or the checkout's top-level ``templates/``."""
    inside = Path(__file__).resolve().parent.parent / "templates"
    if inside.is_dir():
        return inside
    return Path(__file__).resolve().parent.parent.parent / "templates"


_DICT_ATTRIBUTES = frozenset(dir(dict))


class _Environment(jinja2.Environment):
    """jinja2's Environment, with ``x.key`` on a plain dict looked up as ``x["key"]`` first.

    The same value as jinja2 gives (an attribute first, then the item): a plain dict has no attribute
    but its methods, so for any other name the attribute lookup can only fail, and raising and catching
    that AttributeError was a fifth of the rendering. Our contexts are dicts of dicts.
    """

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            try:
                return obj[attribute]
            except KeyError:
                pass
        return super().getattr(obj, attribute)

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A template's globals as a plain dict: the environment's, overlaid by ``d``.

        jinja2 makes them a ChainMap over the environment's, so that a change to those shows in
        templates loaded before; ours never change once made (jinja2 says to avoid it), and every
        render copied the ChainMap and every import compared its keys in Python code: a tenth of
        rendering. The same names and values, looked up and copied in C.
        """
        return {**self.globals, **(d or {})}


# How the Environment is made. What changes the code jinja2 compiles a template into is part of the
# compiled templates' file names (``_fingerprint``), so that a change never reuses code compiled before.
_OPTIONS: dict[str, Any] = {
    "trim_blocks": True,
    "lstrip_blocks": True,
    "keep_trailing_newline": True,
}
_AUTOESCAPED = ("html",)


def _fingerprint() -> str:
    options = sorted((*_OPTIONS.items(), ("autoescape", _AUTOESCAPED)))
    return hashlib.sha1(repr((jinja2.__version__, options)).encode()).hexdigest()[:16]


class CompiledTemplates(jinja2.FileSystemBytecodeCache):
    """jinja2's bytecode cache, in a folder that only this user can enter: templates compiled once.

    Compiling the templates was a tenth of a second of every run. jinja2 keeps each template's code
    under its name and file, with the checksum of its source: a template that changed (ours or the
    partnership's folder's) is compiled again and kept anew. The code is loaded and run, so the
    folder must be this user's alone: made 0700 and checked (a real folder, ours, no access for others)
    the first time it is used; if it is not, or cannot be made (a read-only store), templates are
    compiled in memory as before. A file that cannot be read back is compiled again; one that cannot
    be written is not kept. Nothing here ever stops a message.
    """

    def __init__(self, folder: Path) -> None:
        super().__init__(str(folder), f"{_fingerprint()}-%s.cache")
        self.folder = folder
        self._usable: bool | None = None  # checked the first time a template is looked for

    def usable(self) -> bool:
        if self._usable is None:
            self._usable = _private_folder(self.folder)
            if not self._usable:
                logger.warning(
                    "templates are compiled at every start: %s is not a folder of this user's alone",
                    self.folder,
                )
        return self._usable

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if not self.usable():
            return
        try:
            super().load_bytecode(bucket)
        except Exception:  # cut short or damaged: compiled again
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        if not self.usable():
            return
        try:
            super().dump_bytecode(bucket)
        except OSError as exc:
            logger.debug("a compiled template was not kept: %s", exc.strerror)


def _private_folder(folder: Path) -> bool:
    """Whether ``folder`` is (made, if need be) a folder of this user's that nobody else may use."""
    getuid = getattr(os, "getuid", None)
    if getuid is None:
        return False
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(folder)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != getuid():
            return False
        if stat.S_IMODE(st.st_mode) != 0o700:
            os.chmod(folder, 0o700)
    except OSError:
        return False
    return True


@dataclass(frozen=True)
class Rendered:
    key: str
    message_id: str
    subject: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    raw: bytes
    recipients: tuple[str, ...]  # the envelope: ``envelope(to, cc)``


@lru_cache(maxsize=1024)
def envelope(to: tuple[str, ...], cc: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The addresses of ``to`` and ``cc`` (``getaddresses``, the empty ones left out), as written.

    Cached: the same coordinators and agencies are written to all through a pass, and parsing them
    (the stdlib's address parser) was a tenth of queueing a message.
    """
    return tuple(a for _, a in getaddresses([*to, *cc]) if a)


class Renderer:
    def __init__(
        self,
        *,
        partnership_name: str,
        mailbox: str,
        subject_marking: str,
        templates_dir: Path | None = None,
        documents: DocumentBuilder | None = None,
        trust: Trust | None = None,
        coordinators: Iterable[str] = (),
        encrypt_subject_tag: str = "",
        known_text: Iterable[str] = (),
    ) -> None:
        self.documents = documents or DocumentBuilder()
        search = [str(templates_dir)] if templates_dir else []
        search.append(str(packaged_templates()))
        self.env = _Environment(
            loader=jinja2.FileSystemLoader(search),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=_AUTOESCAPED, default_for_string=False
            ),
            undefined=jinja2.StrictUndefined,
            # Templates are checked for changes by ``_check_templates``, not at every lookup: jinja2's
            # auto_reload looked at the file of each template and include of every message.
            auto_reload=False,
            cache_size=-1,  # a plain dict: a few dozen templates, no LRU bookkeeping a lookup
            **_OPTIONS,
        )
        self.clock = time.monotonic
        self._checked_at = -RECHECK_SECONDS
        self.search = search
        self.partnership_name = partnership_name
        self.mailbox = mailbox
        self.from_header = formataddr((partnership_name, mailbox))
        self.marking = subject_marking.strip()
        self.domain = mailbox.rsplit("@", 1)[-1]
        self.trust = trust or Trust()  # none given: nobody outside is trusted
        self.coordinators = frozenset(c.lower() for c in coordinators)
        self.encrypt_tag = encrypt_subject_tag.strip()
        self.known_text = (partnership_name, mailbox, *known_text)
        self._common: frozenset[str] | None = None
        self._common_docx: frozenset[str] | None = None

    def keep_compiled(self, folder: Path) -> None:
        """Keep the templates compiled in ``folder`` (made 0700 on first use), for the next run."""
        self.env.bytecode_cache = CompiledTemplates(folder)

    def subject(self, om: OutboundMessage) -> str:
        parts = [self.marking] if self.marking else []
        if om.case_ref:
            parts.append(f"[{om.case_ref}]")
        parts.append(om.subject)
        return " ".join(p for p in parts if p)

    def render(self, om: OutboundMessage, now: datetime, forbidden: Iterable[str] = ()) -> Rendered:
        """The message as bytes. Raises PrivacyError if mail for outsiders would name the child.

        ``forbidden`` is ``forbidden_words(case.referral)``: what would name the child.
        """
        self._check_templates()
        context = {**om.context, "subject": om.subject, "partnership": self.partnership_name}
        text = self.env.get_template(f"{om.template}.txt").render(context)
        html = self.env.get_template(f"{om.template}.html").render(context)
        attachments = (*om.attachments, *(self.documents.build(d) for d in om.documents))
        subject = self.subject(om)
        if not om.internal:
            subject = self._guarded_subject(om, subject, text, html, attachments, forbidden)
        message_id = make_msgid(idstring="cspr", domain=self.domain)
        headers = [("From", self.from_header), ("To", ", ".join(om.to))]
        if om.cc:
            headers.append(("Cc", ", ".join(om.cc)))
        headers += [
            ("Subject", subject),
            ("Date", _date_header(now, now.utcoffset())),
            ("Message-ID", message_id),
        ]
        if om.in_reply_to:
            headers.append(("In-Reply-To", om.in_reply_to))
        if om.references:
            headers.append(("References", " ".join(om.references)))
        headers += [
            ("Auto-Submitted", om.auto_submitted),
            ("X-Auto-Response-Suppress", "All"),
            (OUR_HEADER, om.template),
        ]
        raw = message_bytes(headers, text, html, attachments)
        recipients = envelope(tuple(om.to), tuple(om.cc))
        return Rendered(om.key, message_id, subject, om.to, om.cc, raw, recipients)

    def _check_templates(self) -> None:
        """Every template loaded is read again if one of them changed (or went): looked at once a
        ``RECHECK_SECONDS`` at most, as jinja2's auto_reload would at every lookup."""
        at = self.clock()
        if at - self._checked_at < RECHECK_SECONDS:
            return
        self._checked_at = at
        cache = self.env.cache
        if cache and not all(t.is_up_to_date for t in list(cache.values())):
            logger.info("a template changed: templates read again")
            cache.clear()

    def _guarded_subject(
        self,
        om: OutboundMessage,
        subject: str,
        text: str,
        html: str,
        attachments: Iterable[OutAttachment],
        forbidden: Iterable[str],
    ) -> str:
        """The subject of mail for outside the coordinators, once the guard let it go (SPEC 5).

        Raises PrivacyError when it would name the child where it may not.
        """
        attachments = tuple(attachments)
        guard = NameGuard(forbidden, self.common_words(om.documents))
        if guard.finds(subject) or any(guard.finds(a.filename) for a in attachments):
            raise PrivacyError(f"{om.key}: its subject or a file name would name the child")
        if om.names_child or any(d.identifiers for d in om.documents):
            addresses = [a.lower() for a in envelope(tuple(om.to), tuple(om.cc))]
            outside = [a for a in addresses if a not in self.coordinators]
            untrusted = [a for a in outside if not self.trust.trusts(a)]
            if untrusted or not outside:
                raise PrivacyError(
                    f"{om.key}: it names the child and {len(untrusted)} of its "
                    f"{len(outside)} outside address(es) are not trusted"
                )
            return f"{subject} {self.encrypt_tag}" if self.encrypt_tag else subject
        parts = [text, html_text(html)]
        parts.extend(docx_text(a.data) for a in attachments if a.data[:2] == b"PK")
        if any(guard.finds(p) for p in parts):
            raise PrivacyError(
                f"{om.key}: a message to {len(om.to) + len(om.cc)} outside address(es) names the child"
            )
        return subject

    def common_words(self, docs: Iterable[DocumentRequest] = ()) -> frozenset[str]:
        """Words of the config's own text and the templates' (mail and, when attached, the .docx)."""
        if self._common is None:
            texts = list(self.known_text)
            for folder in self.search:
                for path in sorted(Path(folder).glob("*.*")):
                    if path.suffix in (".txt", ".html"):
                        texts.append(path.read_text(encoding="utf-8", errors="replace"))
            self._common = words_of(texts)
        if not any(True for _ in docs):
            return self._common
        if self._common_docx is None:
            blank = DocumentRequest("scoping", "x.docx", "", "", self.partnership_name)
            self._common_docx = self._common | words_of(
                [docx_text(self.documents.build(blank).data)]
            )
        return self._common_docx


@lru_cache(maxsize=16)
def _date_header(now: datetime, offset: timedelta | None) -> str:
    """``format_datetime(now)``, the same for every message of a pass. By ``offset`` too: 11:00 BST
    equals 10:00 UTC, but is written 11:00 +0100."""
    return format_datetime(now)


_WORD = re.compile(r"[^\W\d_]+")


def words_of(texts: Iterable[str]) -> frozenset[str]:
    """Every run of letters in ``texts``, case-folded."""
    return frozenset(w.casefold() for t in texts for w in _WORD.findall(t))


def html_text(html: str) -> str:
    """An HTML part as its reader sees the words: tags as spaces, entities decoded."""
    return htmllib.unescape(re.sub(r"<[^>]*>", " ", html))


def docx_text(data: bytes) -> str:
    """The text of every XML part of a .docx (body, headers, properties), a paragraph a line.

    A damaged or non-.docx file gives its bytes as text, so that it is still searched.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            parts = [
                zf.read(info).decode("utf-8", "replace")
                for info in zf.infolist()
                if info.filename.endswith((".xml", ".rels"))
            ]
    except (zipfile.BadZipFile, OSError, ValueError):
        return data.decode("utf-8", "replace")
    out = []
    for xml in parts:
        xml = re.sub(r"</w:p>|<w:br\s*/>|<w:tab\s*/>|</w:tc>", "\n", xml)
        out.append(htmllib.unescape(re.sub(r"<[^>]*>", "", xml)))
    return "\n".join(out)


class NameGuard:
    """Finds the child's details in text: ``forbidden`` phrases, a lone word only if not a common one.

    A phrase is found where it stands alone (no letter, digit or _ just before or after it), in any
    case, with any run of white space between its words: where ``pattern`` matches. That pattern is
    compiled once for a set of phrases (``_pattern``), but compiling it costs about a millisecond
    a case, more than the searches of a pass; so when the phrases are ASCII and the text has no
    other letter with a case (``_uncased_beyond_ascii``), where "in any case" is plain ASCII lower
    case and white space is what ``str.split`` splits on, the same search is done without it
    (``_finds_ascii``); the pattern is compiled only for a text or a child's details that are not.
    """

    def __init__(self, forbidden: Iterable[str], common: frozenset[str]) -> None:
        phrases = set()
        for w in {w.strip() for w in forbidden if w and len(w.strip()) >= 2}:
            lone = _WORD.fullmatch(w) is not None
            if lone and w.casefold() in common:
                continue  # "Dudley" of the Dudley partnership: the whole name is still looked for
            phrases.add(w)
        self.phrases = tuple(sorted(phrases))
        self._ascii = (
            tuple(sorted({" ".join(p.lower().split()) for p in phrases}))
            if all(p.isascii() for p in phrases)
            else None
        )

    @property
    def pattern(self) -> re.Pattern[str] | None:
        return _pattern(self.phrases) if self.phrases else None

    def finds(self, text: str) -> bool:
        if not self.phrases:
            return False
        if self._ascii is not None and _uncased_beyond_ascii(text):
            return _finds_ascii(self._ascii, " ".join(text.lower().split()))
        pattern = self.pattern
        return pattern is not None and pattern.search(text) is not None


def _finds_ascii(phrases: tuple[str, ...], text: str) -> bool:
    """Whether one of ``phrases`` stands alone in ``text``: both ASCII, lower case, single-spaced.

    The pattern's search in ASCII: IGNORECASE is ASCII case, ``\\s+`` is a run of what ``split``
    splits on (one space here), ``\\w`` a letter, a digit or _.
    """
    end = len(text)
    for phrase in phrases:
        at = text.find(phrase)
        while at >= 0:
            after = at + len(phrase)
            if (at == 0 or not _is_word(text[at - 1])) and (
                after == end or not _is_word(text[after])
            ):
                return True
            at = text.find(phrase, at + 1)
    return False


def _uncased_beyond_ascii(text: str) -> bool:
    """Whether every character of ``text`` past ASCII has no case (as "·", "’", "—" and "€").

    Such a character is never taken for an ASCII one by IGNORECASE (those that are, the Kelvin
    sign K or the long s ſ, have a case), and ``lower`` leaves it as it is: the ASCII search holds.
    """
    return text.isascii() or not any(
        c.lower() != c or c.upper() != c for c in set(_BEYOND_ASCII.findall(text))
    )


_BEYOND_ASCII = re.compile(r"[^\x00-\x7f]")


def _is_word(c: str) -> bool:
    return c.isalnum() or c == "_"


@lru_cache(maxsize=512)
def _pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    r"""One pattern matching any of ``phrases`` where NameGuard says.

    It matches just where ``(?<!\w)(p1|p2|...)(?!\w)`` does (each phrase its escaped characters, with
    ``\s+`` for the white space between its words), but with the phrases grouped by their first
    character, ``(?:1(?:2 June 2011|2/06/2011)|A(?:my|my Example))``, so that at each character the
    search tries the few groups, not every phrase: about half the time, for the same compiling time
    (a trie of every character searches no faster and compiles slower). Cached by the phrases
    themselves, so a case whose details change gets a pattern of its own.
    """
    groups: dict[str, set[str]] = {}
    for phrase in phrases:
        escaped = r"\s+".join(re.escape(word) for word in phrase.split())
        first = re.escape(phrase[0])
        groups.setdefault(first, set()).add(escaped[len(first) :])
    alternatives = []
    for first, rests in groups.items():
        ordered = sorted(rests, key=len, reverse=True)
        alternatives.append(
            first + (ordered[0] if len(ordered) == 1 else f"(?:{'|'.join(ordered)})")
        )
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b", re.IGNORECASE)


def dob_forms(d: date) -> list[str]:
    """A date of birth as people write it: ISO, 03/12/2015, 3/12/15, 03.12.2015, 3 December 2015..."""
    day, month, mon, yy, y = d.day, d.strftime("%B"), d.strftime("%b"), d.strftime("%y"), d.year
    ordinal = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}.get(day, "th")
    out = {d.isoformat()}
    for dd in {f"{day:02d}", str(day)}:
        for mm in {f"{d.month:02d}", str(d.month)}:
            for sep in "/.-":
                out.update({f"{dd}{sep}{mm}{sep}{y}", f"{dd}{sep}{mm}{sep}{yy}"})
    for m in (month, mon):
        out.update({f"{day} {m} {y}", f"{day}{ordinal} {m} {y}", f"{m} {day}, {y}"})
        out.update({f"{m} {day} {y}", f"{day:02d} {m} {y}", f"{day}-{m}-{y}"})
    return sorted(out)


def forbidden_words(referral: dict[str, object]) -> list[str]:
    """What names the child: never in mail for outsiders but a trusted agency's (SPEC 5).

    The full name (both orders) and each part of it; the date of birth in UK and ISO forms; the
    address, its lines with a number, their street without the number, and the postcode; the NHS
    number. Lone words common to the partnership's own text are spared by ``NameGuard``, not here.
    The structural protection is that outside mail is rendered from a context that holds none of
    these; this is the backstop.
    """
    out: list[str] = []
    name = " ".join(str(referral.get("child_name") or "").split())
    if name:
        out.append(name)
        parts = [p for p in re.split(r"[\s,]+", name) if p]
        if len(parts) >= 2:
            out.append(f"{parts[-1]}, {' '.join(parts[:-1])}")
            out.append(f"{parts[0]} {parts[-1]}")
        for part in parts:
            out.append(part.strip(".'"))
            out.extend(p for p in re.split(r"[-'’.]", part) if len(p) >= 2)  # Smith-Jones, O'Brien
    dob = referral.get("child_dob")
    if isinstance(dob, str) and dob:
        out.append(dob)
        try:
            out.extend(dob_forms(date.fromisoformat(dob)))
        except ValueError:
            pass
    address = str(referral.get("child_address") or "").strip()
    postcode = str(referral.get("child_postcode") or "").strip()
    if address:
        out.append(" ".join(address.split()))
        for line in (line.strip() for line in re.split(r"[,\n]", address)):
            if len(line) >= 5 and re.search(r"\d", line):  # a town alone also names the partnership
                out.append(line)
                street = re.sub(r"[\d/]+[a-zA-Z]?\b", " ", line).split()
                if len(street) >= 2 and not _POSTCODE.search(line):
                    out.append(" ".join(street))
        out.extend(m.group(0) for m in _POSTCODE.finditer(address))
    if postcode:
        out.append(postcode)
    for code in [p for p in out if _POSTCODE.fullmatch(p)]:
        compact = code.replace(" ", "").upper()
        out.extend({compact, f"{compact[:-3]} {compact[-3:]}"})
    nhs = re.sub(r"\D", "", str(referral.get("child_nhs_number") or ""))
    if len(nhs) == 10:
        out.extend({nhs, f"{nhs[:3]} {nhs[3:6]} {nhs[6:]}", f"{nhs[:3]}-{nhs[3:6]}-{nhs[6:]}"})
    return out
