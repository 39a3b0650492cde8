"""The parts of a .docx package the reader needs, each inflated once.

A .docx that passed ``attachments.check_docx`` arrives as a ``VettedDocx``: the vetting pass kept
the package relationships, the main document and the custom properties as it inflated them, so
they are read from there and the zip is not opened again. Plain bytes (or a package whose
relationships name other parts) are read from the zip, as before. Parsers resolve no entities and
fetch nothing.
"""

from __future__ import annotations

import io
import zipfile
from types import TracebackType

from lxml import etree

from cspr_mailbot.core.attachments import VettedDocx

__all__ = ["Package", "SAFE_XML"]

SAFE_XML = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, remove_blank_text=False
)
_RELS = "_rels/.rels"
_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_OFFICE_DOCUMENT = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"
)
_CUSTOM_REL = (
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-properties"
)
_CUSTOM_NS = "http://schemas.openxmlformats.org/officeDocument/2006/custom-properties"
MAIN_DOCUMENT = "word/document.xml"
_CUSTOM_PROPERTIES = "docProps/custom.xml"


class Package:
    """One .docx's member names and parts: from the vetting pass when it kept them, else the zip.

    Use it as a context manager: a zip it had to open is closed on the way out. Reading raises
    what zipfile and lxml raise (``KeyError`` for a missing part); callers decide what that means.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._vetted = data if isinstance(data, VettedDocx) else None
        self._zip: zipfile.ZipFile | None = None
        self._rels: etree._Element | None = None

    def __enter__(self) -> Package:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def _open(self) -> zipfile.ZipFile:
        if self._zip is None:
            self._zip = zipfile.ZipFile(io.BytesIO(self._data))
        return self._zip

    def names(self) -> frozenset[str]:
        if self._vetted is not None:
            return self._vetted.names
        return frozenset(self._open().namelist())

    def read(self, name: str) -> bytes:
        if self._vetted is not None:
            if name in self._vetted.parts:
                return self._vetted.parts[name]
            if name not in self._vetted.names:
                raise KeyError(name)
        return self._open().read(name)

    def _relationships(self) -> list[etree._Element]:
        """The package's internal relationships (``_rels/.rels``), [] when it has none."""
        if _RELS not in self.names():
            return []
        if self._rels is None:
            self._rels = etree.fromstring(self.read(_RELS), SAFE_XML)
        return [
            rel
            for rel in self._rels.iter(f"{{{_REL_NS}}}Relationship")
            if rel.get("TargetMode") != "External"
        ]

    def main_document(self) -> etree._Element:
        """The root of the main document part: the first officeDocument relationship's target."""
        part = MAIN_DOCUMENT
        for rel in self._relationships():
            if rel.get("Type") == _OFFICE_DOCUMENT:
                part = (rel.get("Target") or part).lstrip("/")
                break
        return etree.fromstring(self.read(part), SAFE_XML)

    def custom_properties(self) -> dict[str, str]:
        """The custom properties as text ({} when there is no such part): the last relationship's."""
        part = _CUSTOM_PROPERTIES
        for rel in self._relationships():
            if rel.get("Type") == _CUSTOM_REL:
                part = (rel.get("Target") or part).lstrip("/")
        if part not in self.names():
            return {}
        root = etree.fromstring(self.read(part), SAFE_XML)
        props: dict[str, str] = {}
        for prop in root.iter(f"{{{_CUSTOM_NS}}}property"):
            name = prop.get("name")
            if name and len(prop):
                props[name] = (prop[0].text or "").strip()
        return props
