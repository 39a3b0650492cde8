"""Vetting is one pass (issue 9): a .docx's zip directory is read once for its kind and its checks,
and each member inflated once, however many readers of the message ask."""

from __future__ import annotations

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
    counts: Counts,
) -> None:
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
    assert sorted(counts.opened) == members


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
