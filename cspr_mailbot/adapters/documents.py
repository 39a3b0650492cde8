"""Build the documents the core asks for (``DocumentRequest``) as .docx attachments, with formgen.

The only place outgoing mail's .docx files are made: python-docx stays out of the core, and is
loaded only when a template is first made, not at every start.
"""

from __future__ import annotations

from ..core.models import DocumentRequest, OutAttachment

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def build(request: DocumentRequest) -> OutAttachment:
    """The document ``request`` describes, ready to attach."""
    from .. import formgen  # python-docx: loaded only when a template is made

    if request.kind == "scoping":
        data = formgen.prefilled_scoping(
            request.reference,
            request.agency,
            request.partnership,
            dict(request.identifiers) or None,  # a trusted agency's only (SPEC 5)
        )
        return OutAttachment(request.filename, DOCX_TYPE, data)
    raise ValueError(f"no such document: {request.kind}")
