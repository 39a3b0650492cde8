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


TEMPLATES = {
    "words": "{% macro left(n) %}{{ n }} left{% if extra is defined %} {{ extra }}{% endif %}"
    "{% endmacro %}",
    "page": '{% import "words" as w %}{% from "words" import left with context %}'
    "{{ w.left(2) }}|{{ left(3) }}|{{ range(3) | list }}|{% set ns = namespace(x=1) %}{{ ns.x }}|"
    "{% set c = cycler('a', 'b') %}{{ c.next() }}{{ c.next() }}{{ c.next() }}|"
    "{% set j = joiner(',') %}{{ j() }}x{{ j() }}y|{{ site }}|{{ extra | default('none') }}|"
    "{{ dict(a=1).a }}",
    "base": "<{% block b %}{% endblock %}{{ site }}>",
    "child": '{% extends "base" %}{% block b %}{% include "page" %}{% endblock %}',
}


@pytest.mark.parametrize("name", ["page", "child"])
def test_globals_as_a_dict_give_jinja2_s_output(name: str) -> None:
    """make_globals gives a plain dict; with environment and template globals, imports with and
    without context, includes and inheritance, the output is jinja2's."""
    outputs = []
    for cls in (jinja2.Environment, _Environment):
        env = cls(loader=jinja2.DictLoader(TEMPLATES), undefined=jinja2.StrictUndefined)
        env.globals["site"] = "DSPP"
        plain = env.get_template(name).render(extra="x")
        own = env.get_template("base", globals={"site": "own"}).render()  # overlaid: "own"
        again = env.get_template(name).render()
        outputs.append((plain, own, again))
    assert outputs[1] == outputs[0]
    assert "2 left|3 left x|[0, 1, 2]|1|aba|x,y|DSPP|x|1" in outputs[0][0]
    assert outputs[0][1] == "<own>"
