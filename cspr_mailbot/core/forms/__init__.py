"""Read a referral form or scoping return (.docx bytes or an email body) into SPEC 4 values.

The reader is driven by labels, not positions: it turns the document into a stream of paragraphs
and table rows (walking the XML itself, so content controls, legacy form fields and checkboxes are
seen), finds the labels it knows (``labels.toml`` plus the partnership's own synonyms) and reads
the value beside, below or after each one. A value it cannot read is None, never a guess; a value
it could not parse is None plus a problem sentence a person can act on.

One module per job:

- ``fields``: the fields of each form and the kind of value each holds;
- ``labels``: the synonyms (``data/labels.toml`` + config) and label matching;
- ``package``: the parts of a .docx, from the vetting pass or the zip;
- ``docxtext``: the lxml walker from ``word/document.xml`` to paragraphs and rows;
- ``collect``: label/value pairing in rows, paragraphs and lines;
- ``convert``: raw text -> dates, yes/no, choices, the agencies list;
- ``readers``: the public readers and ``FormResult``.

Callers import from here; the names below are the package's API.
"""

from cspr_mailbot.core.forms.docxtext import CHECKED, UNCHECKED
from cspr_mailbot.core.forms.labels import Labels, normalise_label
from cspr_mailbot.core.forms.readers import (
    FormResult,
    missing_key_fields,
    read_custom_properties,
    read_referral_docx,
    read_referral_text,
    read_scoping_docx,
    text_matches,
)

__all__ = [
    "CHECKED",
    "UNCHECKED",
    "FormResult",
    "Labels",
    "missing_key_fields",
    "normalise_label",
    "read_custom_properties",
    "read_referral_docx",
    "read_referral_text",
    "read_scoping_docx",
    "text_matches",
]
