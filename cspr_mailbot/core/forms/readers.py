"""The public readers: a referral form or scoping return (.docx) or an email body -> FormResult.

Each reader walks its input (``docxtext``), pairs labels with values (``collect``) and converts
them (``convert``). A .docx that ``attachments.check_docx`` passed is read from the parts the
vetting pass kept (``package``), so it is inflated once.
"""

from __future__ import annotations

import logging
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lxml import etree

from cspr_mailbot.core.forms.collect import Collector
from cspr_mailbot.core.forms.convert import field_values
from cspr_mailbot.core.forms.docxtext import Para, Row, blocks, w
from cspr_mailbot.core.forms.fields import SENDER_FIELDS
from cspr_mailbot.core.forms.labels import Labels
from cspr_mailbot.core.forms.package import MAIN_DOCUMENT, Package
from cspr_mailbot.errors import UnreadableAttachment

__all__ = [
    "FormResult",
    "missing_key_fields",
    "read_custom_properties",
    "read_referral_docx",
    "read_referral_text",
    "read_scoping_docx",
    "text_matches",
]

logger = logging.getLogger(__name__)

_SIGN_OFF = re.compile(
    r"^\s*(?:(?:(?:kind|best|warm|many)\s+)?(?:regards|wishes|thanks)|thank\s+you|cheers|"
    r"yours\s+(?:sincerely|faithfully)|--)[\s,.!]*$",
    re.IGNORECASE,
)
_FORWARD_MARKER = re.compile(
    r"^\s*(?:-{2,}\s*(?:forwarded message|original message)\s*-{2,}|begin forwarded message:|"
    r"from:\s)",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"^\s*(?:>\s?)+")
_TAG = re.compile(rb"<[^>]*>")


@dataclass(frozen=True)
class FormResult:
    """What a form said: every field key present (None when not read), and what went wrong."""

    fields: dict[str, Any]
    found_labels: int
    problems: tuple[str, ...]
    embedded_reference: str | None = None
    embedded_agency: str | None = None


def missing_key_fields(fields: Mapping[str, Any]) -> list[str]:
    """The key fields a referral lacks (SPEC 3: "key fields missing" sends it to triage).

    A referral needs the referrer (name or email), the child's name, the type of incident, a summary
    and some date (the incident's, or the date the local authority became aware). For the pairs the
    missing key reported is ``referrer_name`` and ``incident_date``.
    """
    missing: list[str] = []
    if not fields.get("referrer_name") and not fields.get("referrer_email"):
        missing.append("referrer_name")
    for key in ("child_name", "incident_type", "incident_summary"):
        if not fields.get(key):
            missing.append(key)
    if not fields.get("incident_date") and not fields.get("la_aware_date"):
        missing.append("incident_date")
    return missing


def _result(collector: Collector, labels: Labels, form: str) -> FormResult:
    values, problems = field_values(
        collector.raw, collector.agency_rows, labels, form, collector.table_rows
    )
    return FormResult(
        values, len(collector.found), tuple(dict.fromkeys([*collector.problems, *problems]))
    )


# ---- .docx --------------------------------------------------------------------------------------


def _open_body(package: Package, filename: str) -> etree._Element:
    """The body of the main document part; UnreadableAttachment when the package is broken."""
    try:
        body = package.main_document().find(w("body"))
        if body is None:
            raise ValueError("the main document part has no body")
    except Exception as exc:  # a broken package fails in many ways
        # Not the file name: people name files after the child.
        logger.info("a form could not be opened: %s", type(exc).__name__)
        raise UnreadableAttachment(
            "corrupt",
            filename,
            f"The file {filename} could not be opened as a Word document. Please save it again "
            "as a .docx file and resend it.",
        ) from exc
    return body


def _collect_docx(body: etree._Element, labels: Labels, form: str) -> Collector:
    collector = Collector(labels, form)
    try:
        for block in blocks(body):
            if isinstance(block, Para):
                collector.line(block.text, heading=block.heading)
            elif isinstance(block, Row):
                collector.row(block.cells)
            else:
                collector.table_end()
        collector.flush()
    except Exception as exc:  # odd content must never stop the mail loop
        logger.warning("form reader stopped early: %s", exc.__class__.__name__, exc_info=True)
        collector.problems.append("Part of the form could not be read")
    return collector


def _not_a_form(filename: str, what: str) -> UnreadableAttachment:
    return UnreadableAttachment(
        "not_a_form",
        filename,
        f"The file {filename} does not look like the {what}: none of its questions were found.",
    )


def read_referral_docx(data: bytes, filename: str, labels: Labels) -> FormResult:
    """Read a referral form (.docx bytes that passed the attachment checks)."""
    with Package(data) as package:
        body = _open_body(package, filename)
    collector = _collect_docx(body, labels, "referral")
    if not collector.found:
        raise _not_a_form(filename, "CSPR referral form")
    return _result(collector, labels, "referral")


def read_scoping_docx(data: bytes, filename: str, labels: Labels) -> FormResult:
    """Read a returned scoping template, with the case reference and agency embedded in it."""
    with Package(data) as package:
        body = _open_body(package, filename)
        props = _custom_properties(package)
    collector = _collect_docx(body, labels, "scoping")
    reference = props.get("cspr_case_reference") or None
    agency = props.get("cspr_agency") or None
    if not collector.found and reference is None:
        raise _not_a_form(filename, "scoping template")
    result = _result(collector, labels, "scoping")
    problems = list(result.problems)
    typed_ref = result.fields.get("case_reference")
    if typed_ref:
        typed_ref = typed_ref.strip().strip("[]").strip()
        result.fields["case_reference"] = typed_ref
    if reference and typed_ref and typed_ref.casefold() != reference.casefold():
        problems.append(
            f"The case reference typed in the form ({typed_ref}) differs from the one the "
            f"template was sent with ({reference})"
        )
    return FormResult(
        fields=result.fields,
        found_labels=result.found_labels,
        problems=tuple(problems),
        embedded_reference=reference or typed_ref or None,
        embedded_agency=agency or result.fields.get("agency_name") or None,
    )


def _custom_properties(package: Package) -> dict[str, str]:
    try:
        return package.custom_properties()
    except (zipfile.BadZipFile, etree.XMLSyntaxError, KeyError, OSError, ValueError):
        return {}


def read_custom_properties(data: bytes) -> dict[str, str]:
    """The document's custom properties (docProps/custom.xml) as text, {} when there are none."""
    with Package(data) as package:
        return _custom_properties(package)


def text_matches(data: bytes, pattern: re.Pattern[str]) -> str | None:
    """The first match of ``pattern`` in a .docx's custom properties or body text, found cheaply.

    Tags are stripped from word/document.xml without parsing, so text that Word split across runs is
    joined again. This lets a caller skip the full read of a document that cannot carry what it seeks
    (a referral form holds no case reference). ``data`` must have passed attachments.check_docx.
    """
    with Package(data) as package:
        for value in _custom_properties(package).values():
            found = pattern.search(value)
            if found:
                return found.group(0)
        try:
            xml = package.read(MAIN_DOCUMENT)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError):
            return None
    found = pattern.search(_TAG.sub(b"", xml).decode("utf-8", "replace"))
    return found.group(0) if found else None


# ---- an email body ------------------------------------------------------------------------------


def read_referral_text(text: str, labels: Labels) -> FormResult:
    """Read a referral typed into an email body as "Label: value" lines."""
    lines = _unquoted(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), labels)
    collector = Collector(labels, "referral", body=True)
    signature = False
    for ln in lines:
        if _FORWARD_MARKER.match(ln):
            signature = False
        elif collector.found and _SIGN_OFF.match(ln):
            collector.flush()
            signature = True
        if signature and not _sender_detail(collector, ln):
            # After "Kind regards" comes the writer's signature: its "Address:" is the
            # writer's office, never the child's. Only the writer's own details are read.
            continue
        collector.line(ln)
    collector.flush()
    return _result(collector, labels, "referral")


def _unquoted(lines: list[str], labels: Labels) -> list[str]:
    """The lines to read: the unquoted ones when they hold labels, else the quoted ones unquoted."""
    probe = Collector(labels, "referral", body=True)
    if any(
        probe.hit(ln) is not None for ln in lines if ln.strip() and not ln.lstrip().startswith(">")
    ):
        return [ln for ln in lines if not ln.lstrip().startswith(">")]
    return [_QUOTED.sub("", ln) for ln in lines]


def _sender_detail(collector: Collector, line: str) -> bool:
    """A signature line giving the writer's own details ("Tel: ..."), with the value inline."""
    hit = collector.hit(line)
    return hit is not None and hit.inline and hit.key in SENDER_FIELDS
