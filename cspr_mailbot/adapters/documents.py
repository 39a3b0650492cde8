"""Build the documents the core asks for (``DocumentRequest``) as .docx attachments, with formgen.

The only place outgoing mail's .docx files are made: python-docx stays out of the core, and is
loaded only when a template is first made, not at every start. A partnership's own scoping
template (``[forms] scoping``) is read once, when the builder is made, and filled by label.
"pack" is the Rapid Review pack the core built (``core.pack_mail``); packdoc lays it out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import Config
from ..core.models import DocumentRequest, OutAttachment

if TYPE_CHECKING:  # formgen imports python-docx: not at every start
    from ..core.forms import Labels
    from ..formgen import LabelMatcher

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@dataclass(frozen=True)
class DocumentBuilder:
    """Makes the attachments of outgoing mail; configured once from the config."""

    marking: str = "OFFICIAL-SENSITIVE"
    scoping_template: bytes | None = None  # the partnership's own ([forms] scoping), or ours
    labels: LabelMatcher | None = (
        None  # the reader's labels, to fill a partnership's template by label
    )

    @classmethod
    def from_config(cls, cfg: Config, labels: Labels | None = None) -> DocumentBuilder:
        """The builder for this configuration: its marking, its own scoping template, its labels
        (``labels``: the config's, loaded already, as the app's settings hold them)."""
        if labels is None:
            from ..core import forms  # lxml and rapidfuzz: when a builder is made alone

            labels = forms.Labels.load(cfg.label_synonyms)
        return cls(
            marking=cfg.partnership.subject_marking,
            scoping_template=cfg.forms.scoping.read_bytes() if cfg.forms.scoping else None,
            labels=labels,
        )

    def build(self, request: DocumentRequest) -> OutAttachment:
        """The document ``request`` describes, ready to attach."""
        from .. import formgen  # python-docx: loaded only when a template is made

        if request.kind == "scoping":
            data = formgen.prefilled_scoping(
                request.reference,
                request.agency,
                request.partnership,
                dict(request.identifiers) or None,  # a trusted agency's only (SPEC 5)
                marking=self.marking,
                template=self.scoping_template,
                labels=self.labels,
            )
            return OutAttachment(request.filename, DOCX_TYPE, data)
        if request.kind == "pack" and request.pack is not None:
            from .packdoc import pack_docx, pack_filename

            data = pack_docx(request.pack, marking=self.marking)
            return OutAttachment(request.filename or pack_filename(request.pack), DOCX_TYPE, data)
        if request.kind == "referral_blank":
            data = formgen.blank_referral(request.partnership, marking=self.marking)
            return OutAttachment(request.filename, DOCX_TYPE, data)
        raise ValueError(f"no such document: {request.kind}")
