"""Decide whether an attachment can be opened safely, before anything inflates it.

``kind_of`` names what a file really is from its magic bytes (then its name and type).
``check_docx`` passes a .docx on to python-docx only after its zip directory, every member's real
inflated size and every member's text (whatever its name: a main part called word/main.bin is XML
too) have been checked against ``Limits``; otherwise it raises
``UnreadableAttachment`` with a code and a sentence the sender can act on (``describe_problem``).
Members are inflated in chunks and discarded, so a hostile file costs little memory whatever it
claims about itself. ``Vetting`` does both from one reading of the zip directory: the reader keeps
one per attachment, so its kind is known at once and its checks run once, when first needed.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from types import MappingProxyType

from cspr_mailbot.core.models import Attachment
from cspr_mailbot.errors import UnreadableAttachment

logger = logging.getLogger(__name__)

MIB = 1024 * 1024
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
CHUNK = 64 * 1024
_XML_SUFFIXES = (".xml", ".rels", ".vml")
_XML_BOMB_MARKERS = tuple(
    marker.encode(encoding)
    for marker in ("<!DOCTYPE", "<!ENTITY", "<!doctype", "<!entity")
    for encoding in ("utf-8", "utf-16-le", "utf-16-be")
)
# Pictures (an SVG logo often has a DOCTYPE) may have a DOCTYPE but never an ENTITY declaration:
# the reader's parser resolves no entities, so a DOCTYPE alone cannot grow.
_ENTITY_MARKERS = tuple(
    marker.encode(encoding)
    for marker in ("<!ENTITY", "<!entity")
    for encoding in ("utf-8", "utf-16-le", "utf-16-be")
)
_MEDIA_FOLDERS = ("word/media/",)
_MARKER_OVERLAP = max(len(m) for m in _XML_BOMB_MARKERS)
# Every marker holds one of these ("<!" in UTF-8, "<\0!" in either UTF-16): a window without
# them holds no marker, so most chunks cost two scans instead of twelve.
_MARKER_STARTS = (b"<!", b"<\x00!")
assert all(any(start in m for start in _MARKER_STARTS) for m in _XML_BOMB_MARKERS)
_IMAGE_MAGICS = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"GIF87a",
    b"GIF89a",
    b"II*\x00",
    b"MM\x00*",
    b"BM",
)

_PROBLEMS = {
    "encrypted": (
        "The form is protected with a password, so we cannot open it. Please send it again "
        "without a password, and tell us the password by phone if you need to protect it."
    ),
    "legacy_doc": (
        "The form is in the old Word format (.doc), which we cannot read. Please open it in "
        "Word, choose Save As, pick 'Word Document (.docx)' and send us the .docx file."
    ),
    "pdf": (
        "The form was sent as a PDF, which we cannot read. Please send the completed Word "
        "form (.docx) instead."
    ),
    "corrupt": (
        "The file is damaged or incomplete, so we cannot open it. Please save the form again "
        "in Word (.docx) and send it once more."
    ),
    "too_large": (
        "The file is too large for us to accept. Please send the form on its own, without "
        "pictures or other documents embedded in it."
    ),
    "zip_bomb": (
        "The file's contents expand to far more than a form could hold, so we did not open "
        "it. Please save the form again in Word (.docx) and send it once more."
    ),
    "xml_bomb": (
        "The file contains content that a Word form never has, so we did not open it. Please "
        "copy your answers into a fresh copy of the form and send that."
    ),
    "not_a_form": (
        "The attachment is not a Word form, so we could not read a referral from it. Please "
        "send the completed form as a Word document (.docx)."
    ),
    "unsupported": (
        "We cannot read this type of document. Please save the form as a Word document "
        "(.docx) and send it again."
    ),
}


@dataclass(frozen=True)
class Limits:
    """What one message and one attachment may cost. Sizes are bytes; the ratio is uncompressed /
    compressed."""

    max_attachment_bytes: int = 25 * MIB  # the compressed file
    max_uncompressed_bytes: int = 60 * MIB  # sum of declared sizes of all zip members
    max_member_bytes: int = 40 * MIB  # any one member, declared and really inflated
    max_ratio: float = 100.0  # per member, only for members over 1 MiB uncompressed
    max_members: int = 2000
    # Any XML part: python-docx holds it as an lxml tree of about 11 times its size (a 40 MiB
    # document.xml took the process from 172 to 633 MiB), so this keeps parsing near 150 MB.
    max_xml_bytes: int = 10 * MIB
    # The whole message (SPEC 3 "Poison messages and size"): a larger one is filed in triage unread.
    # 35 MiB is Exchange Online's usual limit; it is read from the server before the message is.
    max_message_bytes: int = 35 * MIB


def describe_problem(code: str) -> str:
    """The plain sentence for a problem code, for the reply to the sender."""
    return _PROBLEMS.get(code, _PROBLEMS["unsupported"])


def _fail(code: str, att: Attachment, detail: str) -> UnreadableAttachment:
    logger.info("attachment refused: %s (%s)", code, detail)
    return UnreadableAttachment(code, att.filename, describe_problem(code))


# --------------------------------------------------------------------------- OLE (CFB) directory


def ole_stream_names(data: bytes) -> list[str]:
    """The names in an OLE compound file's directory (streams and storages). Never raises.

    Reads the header's DIFAT (and DIFAT sectors), the FAT, then follows the directory chain with a
    bound on its length, so a looping or lying file cannot hang or grow. Returns what it could read.
    """
    try:
        return _ole_names(data)
    except (struct.error, ValueError, IndexError):
        return []


def _ole_names(data: bytes) -> list[str]:
    if len(data) < 512 or not data.startswith(OLE_MAGIC):
        return []
    shift = struct.unpack_from("<H", data, 0x1E)[0]
    if shift not in (9, 12):
        return []
    size = 1 << shift
    n_sectors = len(data) // size  # an upper bound on any chain's length
    first_dir = struct.unpack_from("<I", data, 0x30)[0]
    first_difat, n_difat = struct.unpack_from("<II", data, 0x44)

    def sector(n: int) -> bytes:
        start = (n + 1) * size
        if start + size > len(data):
            raise ValueError("sector out of range")
        return data[start : start + size]

    fat_sectors = [s for s in struct.unpack_from("<109I", data, 0x4C) if s < 0xFFFFFFFA]
    difat, seen = first_difat, set[int]()
    while difat < 0xFFFFFFFA and len(seen) < min(n_difat, n_sectors) and difat not in seen:
        seen.add(difat)
        entries = struct.unpack(f"<{size // 4}I", sector(difat))
        fat_sectors.extend(s for s in entries[:-1] if s < 0xFFFFFFFA)
        difat = entries[-1]
    fat: list[int] = []
    for s in fat_sectors[: n_sectors + 1]:
        fat.extend(struct.unpack(f"<{size // 4}I", sector(s)))

    names: list[str] = []
    current, visited = first_dir, set[int]()
    while current < 0xFFFFFFFA and current not in visited and len(visited) <= n_sectors:
        visited.add(current)
        block = sector(current)
        for off in range(0, size, 128):
            entry = block[off : off + 128]
            name_len = struct.unpack_from("<H", entry, 0x40)[0]
            if entry[0x42] in (1, 2, 5) and 2 <= name_len <= 64:
                names.append(entry[: name_len - 2].decode("utf-16-le", errors="replace"))
        current = fat[current] if current < len(fat) else 0xFFFFFFFE
    return names


def _ole_kind(att: Attachment) -> str:
    names = ole_stream_names(att.data)
    if not names:  # an unreadable directory: look for the name anywhere, as a last resort
        if "EncryptedPackage".encode("utf-16-le") in att.data:
            return "encrypted_office"
    if "EncryptedPackage" in names:
        return "encrypted_office"
    if any(n.startswith("__substg1.0_") or n.startswith("__properties_version1.0") for n in names):
        return "message"  # an Outlook .msg
    if "WordDocument" in names or att.filename.lower().endswith((".doc", ".dot")):
        return "doc"
    return "other"


# --------------------------------------------------------------------------- kind_of


def _zip_entry_bound(data: bytes) -> int:
    """An upper bound on the zip's members: every central directory entry starts PK\\1\\2.

    Counted before zipfile builds a ZipInfo per entry, which for half a million empty entries
    in a 25 MB file would cost hundreds of MB.
    """
    return data.count(b"PK\x01\x02")


# Above this many directory entries, kind_of names a zip by its file name alone.
_KIND_MAX_ENTRIES = 100_000


def _open_zip(data: bytes) -> zipfile.ZipFile | Exception:
    """The zip's directory, or why it could not be read."""
    try:
        return zipfile.ZipFile(BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - BadZipFile, OSError, ValueError...: all corruption
        return exc


def _zip_kind(names: set[str] | None, filename: str) -> str:
    if names is None:  # a directory too big or too broken to list
        return "docx" if filename.lower().endswith(".docx") else "zip"
    if "word/document.xml" in names:
        return "docx"
    if "mimetype" in names and "content.xml" in names:
        return "odt"
    return "zip"


_KINDS_BY_SUFFIX = (
    ((".docx", ".docm", ".dotx"), "docx"),
    ((".doc", ".dot"), "doc"),
    ((".pdf",), "pdf"),
    ((".odt",), "odt"),
    ((".zip",), "zip"),
    ((".png", ".jpg", ".jpeg", ".gif", ".tif", ".tiff", ".bmp", ".heic", ".webp"), "image"),
)


def _kind_by_name(name: str, ctype: str) -> str:
    """What a file is said to be by its name, then its content type."""
    if ctype.startswith("message/") or name.endswith((".eml", ".msg")):
        return "message"
    for suffixes, kind in _KINDS_BY_SUFFIX:
        if name.endswith(suffixes):
            return kind
    if ctype.startswith("image/"):
        return "image"
    if ctype == "application/pdf":
        return "pdf"
    return "other"


def kind_of(att: Attachment) -> str:
    """What the file really is: magic bytes first, then the name, then the content type.

    One of "docx", "doc", "pdf", "encrypted_office", "zip", "odt", "image", "message", "other".
    ``Vetting(att).kind``: to vet the file as well, keep the ``Vetting``.
    """
    return Vetting(att).kind


# --------------------------------------------------------------------------- check_docx

# The parts the form reader needs (forms.package), kept as the vetting pass inflates them so
# the document is inflated once. A package whose relationships name other parts has those read
# from the zip by the reader.
KEPT_PARTS = frozenset({"_rels/.rels", "word/document.xml", "docProps/custom.xml"})


class VettedDocx(bytes):
    """The bytes of a .docx that passed ``check_docx``: equal to the attachment's data, and
    carrying its member names and the parts in ``KEPT_PARTS`` as the check inflated them."""

    names: frozenset[str]
    parts: Mapping[str, bytes]

    def __new__(
        cls,
        data: bytes,
        names: frozenset[str] = frozenset(),
        parts: Mapping[str, bytes] | None = None,
    ) -> VettedDocx:
        self = super().__new__(cls, data)
        self.names = names
        self.parts = MappingProxyType(dict(parts or {}))
        return self


# Refused for what they are, before any zip is opened: kind -> (code, what the log says).
_REFUSED_KINDS = {
    "encrypted_office": ("encrypted", "OLE with EncryptedPackage"),
    "doc": ("legacy_doc", "OLE without EncryptedPackage"),
    "pdf": ("pdf", "PDF"),
    "odt": ("unsupported", "OpenDocument text"),
    "image": ("not_a_form", "image"),
    "message": ("not_a_form", "message"),
}


class Vetting:
    """One attachment looked at once: what it really is (``kind``, at once) and the vetted .docx
    (``docx()``, when first asked for), both from one reading of its zip directory.

    The directory read to name the kind is kept for the checks, so it is parsed once and each
    member inflated once however often either is asked; it is let go once the checks ran (or at
    once when they will not need it: a directory with more entries than ``max_members``).
    """

    def __init__(self, att: Attachment, limits: Limits | None = None) -> None:
        self.attachment = att
        self.limits = limits or Limits()
        self._zip: zipfile.ZipFile | Exception | None = None
        self._bound = 0  # central directory entries at most (a zip's)
        self._result: VettedDocx | UnreadableAttachment | None = None
        self.kind = self._look()

    def _look(self) -> str:
        att = self.attachment
        data = att.data
        if data.startswith(OLE_MAGIC):
            return _ole_kind(att)
        if data.startswith(ZIP_MAGICS):
            return self._look_in_zip(data)
        if b"%PDF-" in data[:1024]:
            return "pdf"
        if data.startswith(_IMAGE_MAGICS) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP"):
            return "image"
        return _kind_by_name(att.filename.lower(), att.content_type.lower())

    def _look_in_zip(self, data: bytes) -> str:
        """The kind by the zip's member names, keeping the opened directory for ``docx()``."""
        bound = self._bound = _zip_entry_bound(data)
        listable = bound <= _KIND_MAX_ENTRIES
        checkable = bound <= self.limits.max_members
        zf = _open_zip(data) if listable or checkable else None
        names: set[str] | None = None
        if listable and isinstance(zf, zipfile.ZipFile):
            names = {info.filename for info in zf.infolist()}
        if checkable:
            self._zip = zf
        elif isinstance(zf, zipfile.ZipFile):
            zf.close()  # docx() refuses it for its entries alone
        return _zip_kind(names, self.attachment.filename)

    def result(self) -> VettedDocx | UnreadableAttachment:
        """The vetted .docx, or why it did not pass: checked once, then remembered."""
        if self._result is None:
            try:
                self._result = self._check()
            except UnreadableAttachment as exc:
                self._result = exc
            finally:
                if isinstance(self._zip, zipfile.ZipFile):
                    self._zip.close()
                self._zip = None
        return self._result

    def docx(self) -> VettedDocx:
        """The vetted .docx (``check_docx``), or raise ``UnreadableAttachment``."""
        result = self.result()
        if isinstance(result, UnreadableAttachment):
            raise result
        return result

    def _check(self) -> VettedDocx:
        att, limits = self.attachment, self.limits
        data = att.data
        # The same attachment may be checked again in another message (a scoping return resent).
        key = (hashlib.sha256(data).digest(), att.filename, att.content_type, limits)
        remembered = _PASSED.get(key)
        if remembered is not None:
            return VettedDocx(data, *remembered)
        if len(data) > limits.max_attachment_bytes:
            raise _fail("too_large", att, f"{len(data)} bytes")
        if not data.startswith(ZIP_MAGICS):
            raise _not_a_zip(att, self.kind)
        if self.kind == "odt":
            raise _fail("unsupported", att, "OpenDocument text")
        if self._bound > limits.max_members:
            raise _fail("zip_bomb", att, "too many central directory entries")
        zf = self._zip
        if not isinstance(zf, zipfile.ZipFile):
            raise _fail("corrupt", att, f"zip directory: {type(zf).__name__}") from None
        vetted = _vet(att, zf, limits)
        _remember(key, vetted)
        return vetted


def check_docx(att: Attachment, limits: Limits | None = None) -> VettedDocx:
    """Return the .docx, vetted and with the parts the reader needs, or raise ``UnreadableAttachment``.

    Order: size of the file; what it really is; the zip directory (member count, declared sizes,
    compression ratios, encryption, word/document.xml); then every member inflated in chunks
    with a hard cap (a member that inflates past its declared size is a bomb; a CRC error is
    corruption), every member scanned for DOCTYPE/ENTITY declarations, and any member that starts
    like XML held to ``max_xml_bytes``, whatever its name. The zip directory is read once, for the
    kind and the checks (``Vetting``), and the parts in ``KEPT_PARTS`` are kept as they come out
    (``VettedDocx``), so the form reader inflates nothing again.
    """
    return Vetting(att, limits).docx()


def _not_a_zip(att: Attachment, kind: str) -> UnreadableAttachment:
    """The refusal for a file that is no zip: what it really is, or damaged if named .docx."""
    if kind in _REFUSED_KINDS:
        code, detail = _REFUSED_KINDS[kind]
        return _fail(code, att, detail)
    if kind == "docx":  # named .docx but not a zip at all
        return _fail("corrupt", att, "not a zip")
    return _fail("not_a_form", att, kind)


def _vet(att: Attachment, zf: zipfile.ZipFile, limits: Limits) -> VettedDocx:
    infos = zf.infolist()
    _check_directory(att, infos, limits)
    names = frozenset(info.filename for info in infos)
    if "word/document.xml" not in names:
        if "[Content_Types].xml" in names or any(n.startswith("word/") for n in names):
            raise _fail("corrupt", att, "no word/document.xml")
        raise _fail("not_a_form", att, "a zip that is not a .docx")
    parts: dict[str, bytes] = {}
    for info in infos:
        keep = info.filename in KEPT_PARTS
        key = None if keep else _clean_member_key(att.data, info, limits)
        if key is not None and key in _CLEAN_MEMBERS:
            del _CLEAN_MEMBERS[key]  # these very bytes, so declared, passed every check below
            _CLEAN_MEMBERS[key] = None  # before; kept as the most recently seen
            continue
        kept = _inflate_member(att, zf, info, limits, keep=keep)
        if kept is not None:
            parts[info.filename] = kept  # a name given twice: the last, as zipfile reads it
        if key is not None:
            _CLEAN_MEMBERS[key] = None
            while len(_CLEAN_MEMBERS) > _CLEAN_MEMBERS_MAX:
                del _CLEAN_MEMBERS[next(iter(_CLEAN_MEMBERS))]
    return VettedDocx(att.data, names, parts)


# Members that passed the member checks, by everything those checks depend on: the member's
# bytes as zipfile reads them to inflate it (its local header, name, extra field and stored data,
# by their SHA-256), its name, compression method, declared sizes, CRC and flags, whether it is a
# picture (which may hold a DOCTYPE), and the limits that apply. The same bytes so declared inflate
# to the same content, so they pass again: a partnership's form carries the same styles, theme,
# settings and font parts in every copy, and those are inflated and scanned once, not per form.
# The bytes are hashed where they lie in the attachment, which costs a few microseconds against
# some forty for inflating even a small part through zipfile. The most recently seen are kept.
_MemberKey = tuple[bytes, str, int, int, int, int, int, bool, int, int]
_CLEAN_MEMBERS: dict[_MemberKey, None] = {}
_CLEAN_MEMBERS_MAX = 256
# A zip member's local header (zipfile.structFileHeader): its name's and extra field's lengths
# are its last two fields, and what zipfile reads of the member follows them.
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")


def _clean_member_key(data: bytes, info: zipfile.ZipInfo, limits: Limits) -> _MemberKey | None:
    """The key a member that passed is remembered by, or None when the bytes zipfile would read
    for it are not all in ``data`` (then inflating it says what is wrong)."""
    start = info.header_offset
    if start < 0 or start + _LOCAL_HEADER.size > len(data):
        return None
    fields = _LOCAL_HEADER.unpack_from(data, start)
    end = start + _LOCAL_HEADER.size + fields[10] + fields[11] + info.compress_size
    if end > len(data):
        return None
    with memoryview(data) as view:
        digest = hashlib.sha256(view[start:end]).digest()
    return (
        digest,
        info.orig_filename,
        info.compress_type,
        info.file_size,
        info.compress_size,
        info.CRC,
        info.flag_bits,
        _is_media(info.filename),
        limits.max_member_bytes,
        limits.max_xml_bytes,
    )


_INFO_SLOTS = tuple(
    slot for cls in zipfile.ZipInfo.__mro__ for slot in getattr(cls, "__slots__", ()) if slot
)


def _copy_info(info: zipfile.ZipInfo) -> zipfile.ZipInfo:
    """A copy of a directory entry to open a member through: what ``copy.copy`` makes (every slot
    that is set), in a tenth of its time (it goes through ``__reduce_ex__``)."""
    new = zipfile.ZipInfo.__new__(zipfile.ZipInfo)
    for slot in _INFO_SLOTS:
        try:
            setattr(new, slot, getattr(info, slot))
        except AttributeError:
            pass  # not set on this entry (CRC of an entry being written)
    return new


def _is_media(name: str) -> bool:
    """A picture in the media folder: it may have a DOCTYPE (never an ENTITY declaration)."""
    return name.lower().startswith(_MEDIA_FOLDERS) and not _is_xml(name)


# The attachments that passed most recently, with what the pass kept: the check depends on
# nothing else than the key. Bounded by count and by the bytes of the parts kept.
_PASSED: dict[tuple[bytes, str, str, Limits], tuple[frozenset[str], Mapping[str, bytes]]] = {}
_PASSED_MAX = 16
_PASSED_MAX_BYTES = 16 * MIB


def _remember(key: tuple[bytes, str, str, Limits], vetted: VettedDocx) -> None:
    _PASSED[key] = (vetted.names, vetted.parts)
    while _PASSED and (len(_PASSED) > _PASSED_MAX or _kept_bytes() > _PASSED_MAX_BYTES):
        del _PASSED[next(iter(_PASSED))]


def _kept_bytes() -> int:
    return sum(len(part) for _, parts in _PASSED.values() for part in parts.values())


def _is_xml(name: str) -> bool:
    return name.lower().endswith(_XML_SUFFIXES)


def _check_directory(att: Attachment, infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    if len(infos) > limits.max_members:
        raise _fail("zip_bomb", att, f"{len(infos)} members")
    total = 0
    for info in infos:
        if info.flag_bits & 0x1:
            raise _fail("encrypted", att, "zip member encrypted")
        if info.file_size > limits.max_member_bytes:
            raise _fail("zip_bomb", att, f"member declares {info.file_size} bytes")
        if info.file_size > limits.max_xml_bytes and _is_xml(info.filename):
            raise _fail("zip_bomb", att, f"XML part declares {info.file_size} bytes")
        if info.file_size > MIB and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise _fail("zip_bomb", att, f"member ratio {info.file_size}/{info.compress_size}")
        total += info.file_size
        if total > limits.max_uncompressed_bytes:
            raise _fail("zip_bomb", att, f"members declare over {total} bytes")


class _MemberScan:
    """What one member's inflated chunks add up to: size, CRC, DOCTYPE/ENTITY, and (if kept) bytes."""

    def __init__(self, att: Attachment, info: zipfile.ZipInfo, limits: Limits, keep: bool) -> None:
        self.att = att
        self.declared = info.file_size
        self.cap = min(info.file_size, limits.max_member_bytes)
        self.max_xml = limits.max_xml_bytes
        self.total, self.crc, self.tail = 0, 0, b""
        self.kept: list[bytes] | None = [] if keep else None
        self.markers = _ENTITY_MARKERS if _is_media(info.filename) else _XML_BOMB_MARKERS

    def feed(self, chunk: bytes) -> None:
        if self.total == 0 and chunk and self.declared > self.max_xml and _looks_like_xml(chunk):
            # A part the reader may parse, whatever it is called (word/main.bin): the XML cap.
            raise _fail("zip_bomb", self.att, f"XML part declares {self.declared} bytes")
        self.total += len(chunk)
        if self.total > self.cap:
            raise _fail("zip_bomb", self.att, f"member inflates past {self.declared} bytes")
        self.crc = zlib.crc32(chunk, self.crc)
        if self.kept is not None:
            self.kept.append(chunk)
        # Every part is scanned, whatever its name: a marker is a few bytes in what is inflated
        # anyway, and a part's name says nothing about whether a parser will be given it.
        window = self.tail + chunk
        if _has_marker(window, self.markers):
            raise _fail("xml_bomb", self.att, "DOCTYPE/ENTITY in a part")
        self.tail = window[-_MARKER_OVERLAP:]


def _looks_like_xml(head: bytes) -> bool:
    """Whether a part's first bytes could start an XML document: after a byte-order mark and white
    space (NUL bytes too, for UTF-16), a ``<``. Images, fonts and embedded objects start otherwise."""
    for bom in (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"):
        if head.startswith(bom):
            head = head[len(bom) :]
            break
    stripped = head[:4096].lstrip(b" \t\r\n\x00")
    return stripped.startswith(b"<") or not stripped


def _has_marker(window: bytes, markers: tuple[bytes, ...] = _XML_BOMB_MARKERS) -> bool:
    """Whether one of ``markers`` (DOCTYPE or ENTITY declarations, UTF-8 or UTF-16) is in ``window``.

    Every marker holds "<!" or "<\\0!", so the search is for "!" first: rare in XML, where "<" is
    on every tag (searching for "<!" stops at each of them, ~5 ms for python-docx's 440 KB
    styles part; this search, ~0.01 ms). Only a window with one of the starts, or with too many
    "!" to look at one by one, gets the full search for every marker.
    """
    at = window.find(b"!")
    for _ in range(_BANGS_LOOKED_AT):
        if at == -1:
            return False
        before = window[max(0, at - 2) : at]
        if before.endswith(b"<") or before == b"<\x00":
            break
        at = window.find(b"!", at + 1)
    return any(marker in window for marker in markers)


_BANGS_LOOKED_AT = 32  # "!" looked at one by one in a window; past that, the full search


def _inflate_member(
    att: Attachment, zf: zipfile.ZipFile, info: zipfile.ZipInfo, limits: Limits, *, keep: bool
) -> bytes | None:
    """Inflate one member in chunks and check it against its declaration; its bytes if ``keep``.

    A member not kept is discarded chunk by chunk; a kept one is at most its declared size, which
    the directory check bounded (an XML part: ``max_xml_bytes``).

    zipfile stops reading at the declared size, which would hide a member that really holds
    more; so it is opened through a copy of its entry that allows one chunk beyond the declared
    size, and the size and CRC are checked by us over what really came out.
    """
    probe = _copy_info(info)
    # One byte more than the furthest we read, so zipfile never reaches its own end and CRC
    # check on data it cut short: we stop as soon as more than ``declared`` has come out.
    probe.file_size = info.file_size + CHUNK + 1
    # Our CRC over what really came out is the check; zipfile's own, over the same bytes, would
    # only double the cost (1.3 ms per 440 KB part).
    del probe.CRC  # zipfile checks a CRC only when the entry has one
    scan = _MemberScan(att, info, limits, keep)
    try:
        with zf.open(probe) as member:
            while chunk := member.read(CHUNK):
                scan.feed(chunk)
    except UnreadableAttachment:
        raise
    except zipfile.BadZipFile as exc:
        # A stream that ends early (zipfile no longer checks CRCs here: ours below does).
        raise _fail("corrupt", att, f"member: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - zlib.error, EOFError, NotImplementedError...
        raise _fail("corrupt", att, f"member: {type(exc).__name__}") from None
    if scan.total != info.file_size or scan.crc != info.CRC:
        raise _fail("corrupt", att, "member size or CRC does not match its declaration")
    return b"".join(scan.kept) if scan.kept is not None else None
