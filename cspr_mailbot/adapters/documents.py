"""Build the documents the core asks for (``DocumentRequest``) as .docx attachments.

The only place outgoing mail's .docx files are made: python-docx stays out of the core, and is
loaded only when a document is first made, not at every start. "scoping" is the pre-filled Initial
Scoping template (formgen); "pack" is the Rapid Review pack the core built (packdoc lays it out).
"""

from __future__ import annotations

from ..core.models import DocumentRequest, OutAttachment

DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def build(request: DocumentRequest, *, marking: str = "OFFICIAL-SENSITIVE") -> OutAttachment:
    """The document ``request`` describes, ready to attach. ``marking`` heads every page of a pack."""
    if request.kind == "scoping":
        from .. import formgen  # python-docx: loaded only when a template is made

        data = formgen.prefilled_scoping(request.reference, request.agency, request.partnership)
        return OutAttachment(request.filename, DOCX_TYPE, data)
    if request.kind == "pack" and request.pack is not None:
        from .packdoc import pack_docx, pack_filename

        data = pack_docx(request.pack, marking=marking)
        return OutAttachment(request.filename or pack_filename(request.pack), DOCX_TYPE, data)
    raise ValueError(f"no such document: {request.kind}")
