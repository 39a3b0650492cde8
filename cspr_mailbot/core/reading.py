"""Read a message once (SPEC 3, 4): vet its attachments, parse what it forwards, read its forms.

``read_message`` turns a parsed ``InboundMessage`` into a ``ReadMessage``, the one value that
classification and the workflow take. Forwarded messages are parsed here, once. Each attachment is
vetted once and read at most once as each kind of form, when first asked for: classification asks for
the reference embedded in an attached scoping template, intake for the best referral form,
correspondence for the scoping returns. So a referral's form is never also read as a scoping return,
and a return is not read again after classification found its reference. Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property

from ..errors import MailbotError, UnreadableAttachment
from . import attachments, forms
from .message import forwarded_messages, original_message_id_of_bounce
from .models import Attachment, InboundMessage
from .settings import Settings

MIN_FORM_LABELS = 3  # labelled fields a document or body needs before we call it a referral form

# The kinds of file that may be an attempt at a returned scoping template (a .doc or .pdf is told of).
_SCOPING_KINDS = frozenset({"docx", "zip", "encrypted_office", "doc", "pdf"})


@dataclass(frozen=True)
class Document:
    """An attachment of the message, or of a message forwarded in it."""

    attachment: Attachment
    kind: str  # attachments.kind_of: "docx", "doc", "pdf", "image", "other"...
    top_level: bool  # attached to the message itself, not to one it forwards
    # What named the kind, holding the zip directory it read for the checks it runs when asked.
    vetting: attachments.Vetting = field(repr=False, compare=False)


@dataclass(frozen=True)
class ReferralReading:
    """The best referral form in a message, where it was found, and what could not be read."""

    form: forms.FormResult | None
    source: str  # "the attached form NAME" | "the message body" | ""
    problems: tuple[str, ...]
    # What kind of thing went wrong with each attachment (UnreadableAttachment.code: "pdf",
    # "legacy_doc", "encrypted", "corrupt", "not_a_form" ...), so the reply advises only on those.
    problem_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class ScopingReading:
    """Every attachment that reads as a scoping template, and what could not be read."""

    returns: tuple[forms.FormResult, ...]
    problems: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class ReadMessage:
    """A message and everything read from it. Build it with ``read_message``."""

    message: InboundMessage
    forwarded: tuple[InboundMessage, ...]  # every message forwarded in it, to depth 3, depth-first
    documents: tuple[Document, ...]
    settings: Settings
    _scoping: dict[int, forms.FormResult | UnreadableAttachment] = field(
        default_factory=dict, repr=False, compare=False
    )

    def _vet(self, i: int) -> bytes | UnreadableAttachment:
        """Document ``i``'s bytes once they passed the attachment checks, or why they did not."""
        return self.documents[i].vetting.result()

    def _read_scoping(self, i: int) -> forms.FormResult | UnreadableAttachment:
        """Document ``i`` read as a scoping template, or why it could not be."""
        if i not in self._scoping:
            data = self._vet(i)
            if isinstance(data, UnreadableAttachment):
                return data
            att = self.documents[i].attachment
            try:
                self._scoping[i] = forms.read_scoping_docx(data, att.filename, self.settings.labels)
            except UnreadableAttachment as exc:
                self._scoping[i] = exc
        return self._scoping[i]

    @cached_property
    def bounced_message_id(self) -> str | None:
        """For a delivery report: the Message-ID of the message it is about, when it says."""
        return original_message_id_of_bounce(self.message)

    @cached_property
    def template_reference(self) -> str | None:
        """The case reference embedded in (or typed into) a scoping template attached to the message."""
        pattern = re.compile(
            rf"{re.escape(self.settings.reference_prefix)}-\d{{4}}-\d{{4,}}", re.IGNORECASE
        )
        for i, doc in enumerate(self.documents):
            if not doc.top_level or doc.kind != "docx":
                continue
            try:
                data = self._vet(i)
                if isinstance(data, UnreadableAttachment):
                    continue
                if forms.text_matches(data, pattern) is None:
                    continue  # no reference anywhere in it (a referral form): skip the full read
                result = self._read_scoping(i)
            except MailbotError:
                continue
            if isinstance(result, UnreadableAttachment):
                continue
            ref = result.embedded_reference or result.fields.get("case_reference")
            if ref:
                return str(ref).strip().upper()
        return None

    @cached_property
    def referral(self) -> ReferralReading:
        """The best referral form: an attached .docx, one in a forwarded message, or a body."""
        problems: list[str] = []
        codes: list[str] = []
        best: tuple[forms.FormResult, str] | None = None
        for i, doc in enumerate(self.documents):
            att = doc.attachment
            if doc.kind in ("image", "other") and not att.filename.lower().endswith(
                (".docx", ".doc", ".pdf")
            ):
                continue  # a logo or a signature image is no attempt at a form
            data = self._vet(i)
            try:
                if isinstance(data, UnreadableAttachment):
                    raise data
                result = forms.read_referral_docx(data, att.filename, self.settings.labels)
            except UnreadableAttachment as exc:
                problems.append(f"{exc.filename}: {exc}")
                codes.append(exc.code)
                continue
            if result.found_labels >= MIN_FORM_LABELS and (
                best is None or result.found_labels > best[0].found_labels
            ):
                best = (result, f"the attached form {att.filename}")
            elif result.found_labels < MIN_FORM_LABELS:
                problems.append(
                    f"{att.filename}: this document is not the referral form (no form fields found)"
                )
                codes.append("not_a_form")
        if best is None:
            for text in (self.message.body_text, *(m.body_text for m in self.forwarded)):
                result = forms.read_referral_text(text or "", self.settings.labels)
                if result.found_labels >= MIN_FORM_LABELS and (
                    best is None or result.found_labels > best[0].found_labels
                ):
                    best = (result, "the message body")
        if best is None:
            return ReferralReading(None, "", tuple(problems), tuple(codes))
        return ReferralReading(best[0], best[1], tuple(problems) + best[0].problems, tuple(codes))

    @cached_property
    def scoping(self) -> ScopingReading:
        """Every attachment read as a returned scoping template (not yet matched to a case)."""
        returns: list[forms.FormResult] = []
        problems: list[str] = []
        for i, doc in enumerate(self.documents):
            if doc.kind not in _SCOPING_KINDS:
                continue
            result = self._read_scoping(i)
            if isinstance(result, UnreadableAttachment):
                problems.append(f"{result.filename}: {result}")
            else:
                returns.append(result)
        return ScopingReading(tuple(returns), tuple(problems))


def read_message(msg: InboundMessage, st: Settings) -> ReadMessage:
    """``msg`` with what it forwards parsed and its attachments listed, ready to be read on demand."""
    forwarded = tuple(forwarded_messages(msg))
    vettings = [
        (attachments.Vetting(a, st.limits), m is msg)
        for m in (msg, *forwarded)
        for a in m.attachments
        if a.content_type != "message/rfc822"
    ]
    documents = [Document(v.attachment, v.kind, top, v) for v, top in vettings]
    return ReadMessage(msg, forwarded, tuple(documents), st)
