"""docxtext's one-pass index (``_Index``) gives exactly the blocks the element-by-element walk
(``_Walk``) gives: on every golden form, every form the intake bench builds (each docxfactory
layout and the partnership's own form), and on hand-written bodies that put text where the plain
path must not take it (inside a hyperlink, a deletion, run properties, a nested paragraph...)."""

from __future__ import annotations

import email
import email.policy
import io
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from bench.intake import make_referrals
from cspr_mailbot.core.forms import docxtext
from cspr_mailbot.core.forms.docxtext import _blocks, _Index, _Walk, blocks, w

GOLDEN = Path(__file__).resolve().parent / "golden"
W_NS = docxtext.W


def _docx_attachments(raw: bytes) -> list[bytes]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    out = []
    for part in msg.walk():
        name = (part.get_filename() or "").lower()
        payload = part.get_payload(decode=True)
        if name.endswith(".docx") and isinstance(payload, bytes):
            out.append(payload)
    return out


def _body(docx: bytes) -> etree._Element:
    with zipfile.ZipFile(io.BytesIO(docx)) as zf:
        root = etree.fromstring(zf.read("word/document.xml"))
    body = root.find(w("body"))
    assert body is not None
    return body


def _readable(docx: bytes) -> bool:
    """Whether the file has a document body to walk (the golden corpus holds broken ones too)."""
    try:
        _body(docx)
    except Exception:  # noqa: BLE001 - a damaged zip or XML: not a body to compare on
        return False
    return True


def _forms() -> list[tuple[str, bytes]]:
    forms = []
    for eml in sorted(GOLDEN.glob("*.eml")):
        forms += [(eml.name, d) for d in _docx_attachments(eml.read_bytes())]
    for ref in make_referrals(150):
        forms += [(f"bench {ref.kind}", d) for d in _docx_attachments(ref.raw)]
    return [(name, docx) for name, docx in forms if _readable(docx)]


FORMS = _forms()


def form_lines() -> list[str]:
    """Every line of every paragraph and table cell of FORMS, as the form reader walks them."""
    lines: list[str] = []
    for _, docx in FORMS:
        for block in blocks(_body(docx)):
            if isinstance(block, docxtext.Para):
                lines.extend(block.text.splitlines())
            elif isinstance(block, docxtext.Row):
                lines.extend(line for cell in block.cells for line in cell.splitlines())
    return lines


def test_there_are_forms_of_every_kind() -> None:
    kinds = {name.split(" ")[-1] for name, _ in FORMS if name.startswith("bench")}
    assert len(kinds) >= 5 and len(FORMS) > 150


@pytest.mark.parametrize("index", range(len(FORMS)), ids=[name for name, _ in FORMS])
def test_index_gives_the_walks_blocks(index: int) -> None:
    body = _body(FORMS[index][1])
    assert list(blocks(body)) == list(_blocks(body, _Walk()))


def test_plain_paragraphs_are_not_walked() -> None:
    """The fast path is taken: in the bench's forms most paragraphs are read from the index."""
    plain = walked = 0
    for _, docx in FORMS:
        body = _body(docx)
        index = _Index(body)
        for p in body.iter(w("p")):
            walked += p in index._walked
            plain += p not in index._walked
    assert plain > 4 * walked


def _doc(body_xml: str) -> etree._Element:
    root = etree.fromstring(
        f'<w:document xmlns:w="{W_NS}" xmlns:w14="{docxtext.W14}">'
        f"<w:body>{body_xml}</w:body></w:document>"
    )
    body = root.find(w("body"))
    assert body is not None
    return body


# Each paragraph puts text somewhere the walk reads differently from "its runs' text in order".
ODD_BODIES = {
    "plain": "<w:p><w:r><w:t>Name</w:t><w:tab/><w:t>Kelly</w:t><w:br/></w:r></w:p>",
    "tabs in paragraph properties": (
        '<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>'
        "<w:r><w:t>A</w:t></w:r></w:p>"
    ),
    "text in run properties": "<w:p><w:r><w:rPr><w:t>no</w:t></w:rPr><w:t>yes</w:t></w:r></w:p>",
    "text straight in the paragraph": "<w:p><w:t>bare</w:t><w:r><w:t>run</w:t></w:r></w:p>",
    "hyperlink": '<w:p><w:hyperlink w:anchor="x"><w:r><w:t>link</w:t></w:r></w:hyperlink></w:p>',
    "inserted": "<w:p><w:ins><w:r><w:t>new</w:t></w:r></w:ins><w:r><w:t>!</w:t></w:r></w:p>",
    "deleted": (
        "<w:p><w:del><w:r><w:delText>old</w:delText><w:t>x</w:t></w:r></w:del>"
        "<w:r><w:t>kept</w:t></w:r></w:p>"
    ),
    "moved from": "<w:p><w:moveFrom><w:r><w:t>gone</w:t></w:r></w:moveFrom></w:p>",
    "smart tag": "<w:p><w:smartTag><w:r><w:t>tagged</w:t></w:r></w:smartTag></w:p>",
    "nested paragraph": (
        "<w:p><w:r><w:t>outer</w:t></w:r><w:customXml><w:p><w:r><w:t>inner</w:t></w:r>"
        "</w:p></w:customXml></w:p>"
    ),
    "table inside a paragraph": (
        "<w:p><w:r><w:t>a</w:t></w:r><w:hyperlink><w:tbl><w:tr><w:tc><w:p><w:r>"
        "<w:t>b</w:t></w:r></w:p></w:tc></w:tr></w:tbl></w:hyperlink></w:p>"
    ),
    "text box in a drawing": (
        "<w:p><w:r><w:t>a</w:t><w:pict><w:txbxContent><w:p><w:r><w:t>boxed</w:t></w:r>"
        "</w:p></w:txbxContent></w:pict></w:r></w:p>"
    ),
    "run in a run": "<w:p><w:r><w:r><w:t>deep</w:t></w:r><w:t>top</w:t></w:r></w:p>",
    "run in a text": "<w:p><w:r><w:t>t<w:r><w:t>inside</w:t></w:r></w:t></w:r></w:p>",
    "placeholder style": (
        '<w:p><w:r><w:rPr><w:rStyle w:val="PlaceholderText"/></w:rPr><w:t>Click here</w:t>'
        '</w:r><w:r><w:rPr><w:rStyle w:val="Strong"/></w:rPr><w:t>typed</w:t></w:r></w:p>'
    ),
    "wingdings": (
        '<w:p><w:r><w:rPr><w:rFonts w:ascii="Wingdings" w:hAnsi="Wingdings"/></w:rPr>'
        '<w:t>\u00fe</w:t></w:r><w:r><w:rPr><w:rFonts w:ascii="Arial"/></w:rPr><w:t> Yes</w:t>'
        "</w:r></w:p>"
    ),
    "wingdings only in hAnsi, ascii empty": (
        '<w:p><w:r><w:rPr><w:rFonts w:ascii="" w:hAnsi="wingdings 2"/></w:rPr>'
        "<w:t>o</w:t></w:r></w:p>"
    ),
    "symbol": '<w:p><w:r><w:sym w:font="Wingdings" w:char="F0FE"/><w:t>No</w:t></w:r></w:p>',
    "field": (
        '<w:p><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>PAGE</w:instrText>'
        '</w:r><w:r><w:t>hidden?</w:t></w:r><w:r><w:fldChar w:fldCharType="separate"/></w:r>'
        '<w:r><w:t>3</w:t></w:r><w:r><w:fldChar w:fldCharType="end"/></w:r></w:p>'
    ),
    "content control in a paragraph": (
        "<w:p><w:r><w:t>Date: </w:t></w:r><w:sdt><w:sdtPr>"
        '<w:date w:fullDate="2026-03-04T00:00:00Z"/></w:sdtPr><w:sdtContent><w:r>'
        "<w:t>4 March</w:t></w:r></w:sdtContent></w:sdt></w:p>"
    ),
    "headings": (
        '<w:p><w:pPr><w:pStyle w:val="Heading2"/></w:pPr><w:r><w:t>About</w:t></w:r></w:p>'
        '<w:p><w:pPr><w:pStyle w:val="Normal"/><w:pStyle w:val="Title"/></w:pPr></w:p>'
        '<w:p><w:pPr><w:rPr><w:pStyle w:val="Heading1"/></w:rPr></w:pPr></w:p>'
        '<w:p><w:pPr></w:pPr><w:pPr><w:pStyle w:val="Subtitle"/></w:pPr></w:p>'
    ),
    "merged cells": (
        '<w:tbl><w:tr><w:tc><w:tcPr><w:vMerge w:val="restart"/></w:tcPr><w:p><w:r>'
        "<w:t>top</w:t></w:r></w:p></w:tc></w:tr><w:tr><w:tc><w:tcPr><w:vMerge/></w:tcPr>"
        "<w:p><w:r><w:t>hidden</w:t></w:r></w:p></w:tc><w:tc><w:tcPr><w:vMerge "
        'w:val="restart"/><w:vMerge/></w:tcPr><w:p><w:r><w:t>shown</w:t></w:r></w:p>'
        "</w:tc><w:tc><w:p><w:pPr><w:vMerge/></w:pPr><w:r><w:t>cell</w:t></w:r></w:p>"
        "</w:tc></w:tr></w:tbl>"
    ),
    "nested table": (
        "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>outer</w:t></w:r></w:p><w:tbl><w:tr><w:tc>"
        "<w:p><w:r><w:t>inner</w:t><w:cr/><w:noBreakHyphen/></w:r></w:p></w:tc></w:tr>"
        "</w:tbl></w:tc></w:tr></w:tbl>"
    ),
    "empty runs and texts": "<w:p><w:r/><w:r><w:t/></w:r></w:p><w:p/>",
    "comments and instructions": "<w:p><w:r><!-- c --><w:t>a</w:t><?pi x?></w:r></w:p>",
}


@pytest.mark.parametrize("name", ODD_BODIES)
def test_index_gives_the_walks_blocks_on_odd_bodies(name: str) -> None:
    body = _doc(ODD_BODIES[name])
    assert list(blocks(body)) == list(_blocks(body, _Walk()))


# Of ODD_BODIES, the ones whose paragraphs are plain (read from the index, never walked).
PLAIN_BODIES = {
    "plain",
    "headings",
    "empty runs and texts",
    "comments and instructions",
    "merged cells",
    "nested table",
}


@pytest.mark.parametrize("name", ODD_BODIES)
def test_odd_paragraphs_are_walked_and_plain_ones_not(name: str) -> None:
    body = _doc(ODD_BODIES[name])
    index = _Index(body)
    top = [p for p in body.iter(w("p")) if p.getparent() is body or p.getparent().tag == w("tc")]
    if name in PLAIN_BODIES:
        assert not index._walked
    else:
        assert any(p in index._walked for p in top)


def test_a_plain_paragraphs_text() -> None:
    plain = _doc(ODD_BODIES["plain"])
    assert list(blocks(plain)) == [docxtext.Para("Name\tKelly\n")]


def test_the_paragraphs_holding_paragraphs_are_those_the_predicate_finds() -> None:
    """_holding_paragraphs (one location path) finds what descendant-or-self::w:p[.//w:p] finds:
    on a body with text boxes two deep, from the body, from a paragraph and from a cell."""
    body = etree.fromstring(
        f'<w:body xmlns:w="{W_NS}"><w:p><w:r><w:t>plain</w:t></w:r></w:p>'
        "<w:p><w:r><w:pict><w:txbxContent><w:p><w:r><w:pict><w:txbxContent><w:p><w:r>"
        "<w:t>deep</w:t></w:r></w:p></w:txbxContent></w:pict></w:r></w:p></w:txbxContent>"
        "</w:pict></w:r></w:p><w:tbl><w:tr><w:tc><w:p><w:r><w:pict><w:txbxContent><w:p>"
        "<w:r><w:t>in a cell</w:t></w:r></w:p></w:txbxContent></w:pict></w:r></w:p></w:tc>"
        "</w:tr></w:tbl></w:body>"
    )
    predicate = etree.XPath("descendant-or-self::w:p[.//w:p]", namespaces={"w": W_NS})
    for container in [body, body[1], body[2], *body.iter(w("tc"))]:
        found = docxtext._holding_paragraphs(container)
        assert found == set(predicate(container))
    assert len(docxtext._holding_paragraphs(body)) == 3
    for _, docx in FORMS:
        docx_body = _body(docx)
        assert docxtext._holding_paragraphs(docx_body) == set(predicate(docx_body))
