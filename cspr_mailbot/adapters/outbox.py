"""Render an OutboundMessage into a MIME message with Jinja2: text and HTML parts, SPEC 5 headers.

Templates come from ``templates/`` (shipped inside the package too); a partnership's own folder, if configured,
is searched first, so it can override any one template without touching code.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid
from pathlib import Path

import jinja2

from ..core.models import OutboundMessage
from ..errors import PrivacyError
from .documents import DocumentBuilder

logger = logging.getLogger(__name__)

OUR_HEADER = "X-CSPR-Mailbot"


def packaged_templates() -> Path:
    """The templates shipped with the package, or the checkout's top-level ``templates/``."""
    inside = Path(__file__).resolve().parent.parent / "templates"
    if inside.is_dir():
        return inside
    return Path(__file__).resolve().parent.parent.parent / "templates"


@dataclass(frozen=True)
class Rendered:
    key: str
    message_id: str
    subject: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    raw: bytes


class Renderer:
    def __init__(
        self,
        *,
        partnership_name: str,
        mailbox: str,
        subject_marking: str,
        templates_dir: Path | None = None,
        documents: DocumentBuilder | None = None,
    ) -> None:
        self.documents = documents or DocumentBuilder()
        search = [str(templates_dir)] if templates_dir else []
        search.append(str(packaged_templates()))
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(search),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html",), default_for_string=False
            ),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.partnership_name = partnership_name
        self.mailbox = mailbox
        self.marking = subject_marking.strip()
        self.domain = mailbox.rsplit("@", 1)[-1]

    def subject(self, om: OutboundMessage) -> str:
        parts = [self.marking] if self.marking else []
        if om.case_ref:
            parts.append(f"[{om.case_ref}]")
        parts.append(om.subject)
        return " ".join(p for p in parts if p)

    def render(self, om: OutboundMessage, now: datetime, forbidden: Iterable[str] = ()) -> Rendered:
        """The message as bytes. Raises PrivacyError if mail for outsiders would contain a forbidden word."""
        context = {**om.context, "subject": om.subject, "partnership": self.partnership_name}
        text = self.env.get_template(f"{om.template}.txt").render(context)
        html = self.env.get_template(f"{om.template}.html").render(context)
        subject = self.subject(om)
        if not om.internal:
            _guard(om, (subject, text, html), forbidden)
        msg = EmailMessage(policy=SMTP)
        msg["From"] = formataddr((self.partnership_name, self.mailbox))
        msg["To"] = ", ".join(om.to)
        if om.cc:
            msg["Cc"] = ", ".join(om.cc)
        msg["Subject"] = subject
        msg["Date"] = format_datetime(now)
        message_id = make_msgid(idstring="cspr", domain=self.domain)
        msg["Message-ID"] = message_id
        if om.in_reply_to:
            msg["In-Reply-To"] = om.in_reply_to
        if om.references:
            msg["References"] = " ".join(om.references)
        msg["Auto-Submitted"] = om.auto_submitted
        msg["X-Auto-Response-Suppress"] = "All"
        msg[OUR_HEADER] = om.template
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        for att in (*om.attachments, *(self.documents.build(d) for d in om.documents)):
            maintype, _, subtype = att.content_type.partition("/")
            msg.add_attachment(att.data, maintype=maintype, subtype=subtype, filename=att.filename)
        return Rendered(om.key, message_id, subject, om.to, om.cc, msg.as_bytes())


def _guard(om: OutboundMessage, parts: Iterable[str], forbidden: Iterable[str]) -> None:
    words = [w for w in forbidden if w and len(w.strip()) >= 3]
    if not words:
        return
    pattern = re.compile(
        r"\b(" + "|".join(re.escape(w.strip()) for w in words) + r")\b", re.IGNORECASE
    )
    for part in parts:
        if pattern.search(part):
            raise PrivacyError(
                f"{om.key}: a message to {len(om.to)} outside address(es) names the child"
            )


def forbidden_words(referral: dict[str, object]) -> list[str]:
    """The child's full name (both orders), date of birth and address: never in mail to outsiders.

    Single name parts are not checked: a surname such as "Dudley" or "Street" appears in ordinary text,
    and a guard that fires on it would stop every chaser on the case. The structural protection is that
    outside mail is rendered from a context that holds no child's details; this guard is the backstop.
    """
    out: list[str] = []
    name = str(referral.get("child_name") or "").strip()
    if name:
        out.append(name)
        parts = [p for p in re.split(r"[\s,]+", name) if p]
        if len(parts) >= 2:
            out.append(f"{parts[-1]}, {' '.join(parts[:-1])}")
            out.append(f"{parts[0]} {parts[-1]}")
    dob = referral.get("child_dob")
    if isinstance(dob, str) and dob:
        out.append(dob)
        try:
            d = datetime.fromisoformat(dob).date()
            out.extend(
                [
                    d.strftime("%d/%m/%Y"),
                    f"{d.day} {d.strftime('%B')} {d.year}",
                    f"{d.day} {d.strftime('%b')} {d.year}",
                ]
            )
        except ValueError:
            pass
    address = str(referral.get("child_address") or "").strip()
    if address:
        out.append(address)
        # Only the lines that carry a number (house, postcode): a town alone also names the partnership.
        out.extend(
            line.strip()
            for line in re.split(r"[,\n]", address)
            if len(line.strip()) >= 5 and re.search(r"\d", line)
        )
    return out
