"""The Renderer's jinja2 Environment looks ``x.key`` up on a dict first, with jinja2's own results."""

from __future__ import annotations

import jinja2
import pytest

from cspr_mailbot.adapters.outbox import _Environment


def _both(source: str, **context: object) -> tuple[str, str]:
    options = {"undefined": jinja2.StrictUndefined}
    plain = jinja2.Environment(**options).from_string(source).render(context)  # type: ignore[arg-type]
    ours = _Environment(**options).from_string(source).render(context)  # type: ignore[arg-type]
    return plain, ours


@pytest.mark.parametrize(
    "source",
    [
        "{{ d.name }}",
        "{{ d.items is callable }} {{ d['items'] }}",  # a key named as a dict method: the method first
        "{{ d.get('name') }} {{ d.keys() | list | length }}",
        "{{ d.nested.reference }} {% for c in d.linked %}{{ c.status }}{% endfor %}",
        "{{ d.missing is defined }} {{ o.upper() }}",
        "{{ l.0 }} {{ t.1 }}",
    ],
)
def test_same_output_as_jinja2(source: str) -> None:
    d = {
        "name": "DSPP-2026-0001",
        "items": "an item",
        "nested": {"reference": "R"},
        "linked": [{"status": "open"}, {"status": "closed"}],
    }
    plain, ours = _both(source, d=d, o="text", l=["a", "b"], t=("x", "y"))
    assert ours == plain


def test_a_missing_key_is_still_an_error() -> None:
    with pytest.raises(jinja2.UndefinedError):
        _Environment(undefined=jinja2.StrictUndefined).from_string("{{ d.missing }}").render(d={})
