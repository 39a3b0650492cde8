"""Vetting is one pass (issue 9): a .docx's zip directory is read once for its kind and its checks,
and each member inflated once, however many readers of the message ask."""

from __future__ import annotations

import time
import zipfile
from email.message import EmailMessage
from io import BytesIO

import pytest

from cspr_mailbot import formgen
from cspr_mailbot.core import attachments, forms
from cspr_mailbot.core.attachments import Limits, Vetting, check_docx, kind_of
from cspr_mailbot.core.clocks import Timescales
from cspr_mailbot.core.message import parse_message
from cspr_mailbot.core.models import Attachment
from cspr_mailbot.core.reading import read_message
from cspr_mailbot.core.settings import Settings
from cspr_mailbot.errors import UnreadableAttachment

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ST = Settings(
    partnership_name="Dudley Safeguarding People Partnership",
    mailbox="dsppb@example.gov.uk",
    coordinators=("coordinator@example.gov.uk",),
    timescales=Timescales(),
    limits=Limits(),
    labels=forms.Labels.load(),
)


class Counts:
    directories = 0  # zip central directories read
    opened: list[str]

    def __init__(self) -> None:
        self.opened = []  # members opened to be read


@pytest.fixture
def counts(monkeypatch: pytest.MonkeyPatch) -> Counts:
    """Count every zip directory read and every member opened, anywhere in the process."""
    found = Counts()
    read_directory = zipfile.ZipFile._RealGetContents  # type: ignore[attr-defined]
    open_member = zipfile.ZipFile.open

    def counted_directory(self: zipfile.ZipFile) -> None:
        found.directories += 1
        read_directory(self)

    def counted_open(self: zipfile.ZipFile, name: str | zipfile.ZipInfo, *a: object, **k: object):  # type: ignore[no-untyped-def]
        found.opened.append(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return open_member(self, name, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", counted_directory)
    monkeypatch.setattr(zipfile.ZipFile, "open", counted_open)
    attachments._PASSED.clear()  # a pass remembered by another test would skip the work
    return found


def _message(*files: tuple[str, bytes]) -> bytes:
    m = EmailMessage()
    m["From"] = "jo@agency.example.org"
    m["To"] = "dsppb@example.gov.uk"
    m["Subject"] = "CSPR referral"
    m["Message-ID"] = "<once@agency.example.org>"
    m.set_content("The form is attached.")
    for name, data in files:
        m.add_attachment(data, maintype="application", subtype=DOCX.split("/")[1], filename=name)
    return m.as_bytes()


def test_a_referral_forms_zip_directory_is_read_once_and_each_member_inflated_once(
    counts: Counts, monkeypatch: pytest.MonkeyPatch
) -> None:
    attachments._CLEAN_MEMBERS.clear()  # no member known to have passed before
    inflated = _inflated(monkeypatch)
    data = formgen.filled_referral({"child_name": "Amy Example", "referrer_name": "Jo Bloggs"})
    with zipfile.ZipFile(BytesIO(data)) as zf:
        members = sorted(zf.namelist())
    counts.directories, counts.opened = 0, []  # building the form opened zips too
    read = read_message(parse_message(_message(("referral.docx", data)), "1"), ST)
    assert [d.kind for d in read.documents] == ["docx"]
    # Every reader of the message: classification's reference, the referral, the scoping returns.
    assert read.template_reference is None
    assert read.referral.form is not None
    assert read.referral.form.fields["child_name"] == "Amy Example"
    read.scoping  # noqa: B018 - reads the attachment as a scoping return too
    assert counts.directories == 1
    assert sorted(inflated) == members
    # Opened to be read: to be inflated, or first as stored to know a big one again.
    assert set(counts.opened) == set(members)


def test_two_attachments_have_one_directory_read_each(counts: Counts) -> None:
    first = formgen.filled_referral({"child_name": "Amy Example"})
    second = formgen.blank_referral()
    counts.directories = 0
    read = read_message(parse_message(_message(("a.docx", first), ("b.docx", second)), "1"), ST)
    assert read.referral.form is not None
    assert counts.directories == 2


def test_kind_and_checks_from_one_vetting_agree_with_kind_of_and_check_docx(
    counts: Counts,
) -> None:
    data = formgen.blank_referral()
    att = Attachment("form.docx", DOCX, data)
    counts.directories = 0
    vetting = Vetting(att)
    assert vetting.kind == "docx" and counts.directories == 1
    assert vetting.docx() == data and vetting.docx() is vetting.docx()
    assert counts.directories == 1
    attachments._PASSED.clear()
    assert kind_of(att) == vetting.kind and check_docx(att) == data


def test_a_refusal_is_raised_again_without_checking_again(counts: Counts) -> None:
    att = Attachment("photos.zip", "application/zip", _plain_zip())
    counts.opened = []  # writing it opened its member
    vetting = Vetting(att)
    assert vetting.kind == "zip"
    with pytest.raises(UnreadableAttachment) as first:
        vetting.docx()
    with pytest.raises(UnreadableAttachment) as again:
        vetting.docx()
    assert first.value.code == again.value.code == "not_a_form"
    assert counts.directories == 1 and counts.opened == []


def _plain_zip() -> bytes:
    out = BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("a.txt", "hello")
    return out.getvalue()


# --------------------------------------------------------------------------- members that passed


def _rebuild(
    data: bytes, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None
) -> bytes:
    replace = replace or {}
    out = BytesIO()
    with zipfile.ZipFile(BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = replace.get(info.filename, src.read(info.filename))
            dst.writestr(info.filename, body, compress_type=zipfile.ZIP_DEFLATED)
        for name, body in (add or {}).items():
            dst.writestr(name, body, compress_type=zipfile.ZIP_DEFLATED)
    return out.getvalue()


def _inflated(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The members check_docx inflates, by name."""
    names: list[str] = []
    inflate = attachments._inflate_member

    def counted(
        att: Attachment, zf: zipfile.ZipFile, info: zipfile.ZipInfo, *a: object, **k: object
    ) -> bytes | None:
        names.append(info.filename)
        return inflate(att, zf, info, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(attachments, "_inflate_member", counted)
    return names


def _patch_central(data: bytes, name: str, offset: int, value: int) -> bytes:
    """Patch a 4-byte field of ``name``'s central directory entry (CRC at 16, size at 24)."""
    buf = bytearray(data)
    at = buf.find(b"PK\x01\x02")
    while at != -1:
        name_len = int.from_bytes(buf[at + 28 : at + 30], "little")
        if bytes(buf[at + 46 : at + 46 + name_len]) == name.encode():
            buf[at + offset : at + offset + 4] = value.to_bytes(4, "little")
            return bytes(buf)
        at = buf.find(b"PK\x01\x02", at + 4)
    raise AssertionError(name)


def _two_forms(monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, bytes]:
    """Two referral forms for two children, made in the same second, as copies of one form saved
    by Word carry the same member times: zipfile writes the time into each member's local header,
    which the remembered-part key hashes, and two forms made across a second boundary (under load)
    shared no part at all."""
    with monkeypatch.context() as clock:
        clock.setattr(time, "time", lambda: 1_796_000_000.0)
        return (
            formgen.filled_referral({"child_name": "Amy Example"}),
            formgen.filled_referral({"child_name": "Kim Example"}),
        )


def test_a_styles_part_every_form_shares_is_inflated_for_the_first_form_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attachments._CLEAN_MEMBERS.clear()
    first, second = _two_forms(monkeypatch)
    inflated = _inflated(monkeypatch)
    assert check_docx(Attachment("a.docx", DOCX, first)) == first
    assert "word/styles.xml" in inflated and "word/document.xml" in inflated
    inflated.clear()
    vetted = check_docx(Attachment("b.docx", DOCX, second))
    assert vetted == second and "word/styles.xml" not in inflated
    assert "word/document.xml" in inflated  # a kept part is always inflated: the reader needs it
    assert (
        forms.read_referral_docx(vetted, "b.docx", ST.labels).fields["child_name"] == "Kim Example"
    )


@pytest.mark.parametrize(
    ("field", "delta", "code"), [(16, 1, "corrupt"), (24, 1, "corrupt"), (24, -1, "zip_bomb")]
)
def test_the_same_stored_bytes_under_another_declaration_are_checked_again(
    field: int, delta: int, code: str
) -> None:
    data = formgen.blank_referral()
    assert check_docx(Attachment("a.docx", DOCX, data)) == data  # its styles remembered
    with zipfile.ZipFile(BytesIO(data)) as zf:
        info = zf.getinfo("word/styles.xml")
    declared = info.CRC if field == 16 else info.file_size
    lying = _patch_central(data, "word/styles.xml", field, declared + delta)
    with pytest.raises(UnreadableAttachment) as caught:
        check_docx(Attachment("b.docx", DOCX, lying))
    assert caught.value.code == code


def test_a_doctype_that_passed_in_a_picture_is_an_xml_bomb_in_a_part() -> None:
    svg = b'<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x"><svg>'
    svg += b"<g/>" * 20_000 + b"</svg>"
    base = formgen.blank_referral()
    picture = _rebuild(base, add={"word/media/image1.svg": svg})
    assert check_docx(Attachment("a.docx", DOCX, picture)) == picture
    part = _rebuild(base, add={"word/image1.svg": svg})
    with pytest.raises(UnreadableAttachment) as caught:
        check_docx(Attachment("b.docx", DOCX, part))
    assert caught.value.code == "xml_bomb"


def test_the_same_part_is_checked_again_under_tighter_limits() -> None:
    data = formgen.blank_referral()
    assert check_docx(Attachment("a.docx", DOCX, data)) == data
    with zipfile.ZipFile(BytesIO(data)) as zf:
        styles = zf.getinfo("word/styles.xml").file_size
    with pytest.raises(UnreadableAttachment) as caught:
        check_docx(Attachment("a.docx", DOCX, data), Limits(max_member_bytes=styles - 1))
    assert caught.value.code == "zip_bomb"


def test_members_that_passed_are_remembered_up_to_a_bound() -> None:
    base = formgen.blank_referral()
    for i in range(attachments._CLEAN_MEMBERS_MAX + 5):
        body = b"<x>" + f"{i:08d}".encode() * 5000 + b"</x>"
        data = _rebuild(base, add={f"word/extra{i}.xml": body})
        assert check_docx(Attachment(f"{i}.docx", DOCX, data)) == data
        assert len(attachments._CLEAN_MEMBERS) <= attachments._CLEAN_MEMBERS_MAX


# --------------------------------------------------------------------------- small shared parts


def _local_record(data: bytes, name: str) -> tuple[int, int]:
    """Where ``name``'s local header starts and where its stored data starts."""
    with zipfile.ZipFile(BytesIO(data)) as zf:
        at = zf.getinfo(name).header_offset
    name_len = int.from_bytes(data[at + 26 : at + 28], "little")
    extra_len = int.from_bytes(data[at + 28 : at + 30], "little")
    return at, at + 30 + name_len + extra_len


def test_a_small_part_every_form_shares_is_inflated_for_the_first_form_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attachments._CLEAN_MEMBERS.clear()
    attachments._PASSED.clear()
    first, second = _two_forms(monkeypatch)
    with zipfile.ZipFile(BytesIO(first)) as zf:
        assert zf.getinfo("word/settings.xml").file_size < 32 * 1024  # a small part
    inflated = _inflated(monkeypatch)
    assert check_docx(Attachment("a.docx", DOCX, first)) == first
    assert "word/settings.xml" in inflated and "word/theme/theme1.xml" in inflated
    inflated.clear()
    assert check_docx(Attachment("b.docx", DOCX, second)) == second
    assert "word/settings.xml" not in inflated and "word/theme/theme1.xml" not in inflated
    assert sorted(inflated) == ["_rels/.rels", "word/document.xml"]  # the parts the reader keeps


@pytest.mark.parametrize("where", ["stored data", "local header name"])
def test_a_shared_part_whose_bytes_differ_under_the_same_declaration_is_checked_again(
    where: str,
) -> None:
    """A part that passed in one form, in another with the same central directory entry but other
    bytes where zipfile reads it: its stored data, or the name in its local header."""
    data = formgen.blank_referral()
    assert check_docx(Attachment("a.docx", DOCX, data)) == data  # its settings part remembered
    header, stored = _local_record(data, "word/settings.xml")
    buf = bytearray(data)
    if where == "stored data":
        buf[stored + 20] ^= 0xFF
    else:
        buf[header + 30 + len("word/")] ^= 0x01  # "word/settings.xml" -> "word/rettings.xml"
    with pytest.raises(UnreadableAttachment) as caught:
        check_docx(Attachment("b.docx", DOCX, bytes(buf)))
    assert caught.value.code == "corrupt"


def _outcome(att: Attachment) -> object:
    try:
        vetted = check_docx(att)
    except UnreadableAttachment as exc:
        return exc.code
    return (bytes(vetted), vetted.names, dict(vetted.parts))


def test_remembered_parts_give_what_checking_every_part_gives() -> None:
    """Every form and every damaged copy of one: checked with no part remembered, and again with
    every clean part of every one of them remembered, the outcome is the same."""
    good = [
        formgen.blank_referral(),
        formgen.filled_referral({"child_name": "Amy Example"}),
        formgen.blank_scoping("DSPP-2026-0001", "West Midlands Police"),
    ]
    base = good[1]
    header, stored = _local_record(base, "word/fontTable.xml")
    damaged = []
    for at, flip in ((stored + 5, 0x10), (header + 31, 0x01), (header + 28, 0x01)):
        buf = bytearray(base)
        buf[at] ^= flip  # its stored data, its local name, its local extra field's length
        damaged.append(bytes(buf))
    with zipfile.ZipFile(BytesIO(base)) as zf:
        info = zf.getinfo("word/fontTable.xml")
    damaged.append(_patch_central(base, "word/fontTable.xml", 16, info.CRC ^ 1))
    damaged.append(_patch_central(base, "word/fontTable.xml", 24, info.file_size + 1))
    files = [Attachment(f"{i}.docx", DOCX, d) for i, d in enumerate([*good, *damaged])]
    alone = []
    for att in files:
        attachments._CLEAN_MEMBERS.clear()
        attachments._PASSED.clear()
        alone.append(_outcome(att))
    assert alone[len(good) :] == ["corrupt"] * len(damaged)
    for att in files:  # every part of every good form remembered
        attachments._PASSED.clear()
        _outcome(att)
    remembered = []
    for att in files:
        attachments._PASSED.clear()
        remembered.append(_outcome(att))
    assert remembered == alone
