"""parse_message's shortcuts give exactly what the slow, general readings give.

The MIME tree is parsed with ``_TEXT_POLICY`` (``policy.default`` handing back header text, taken
directly for plain values and remembered) and a plain ``From:`` skips the header registry's
address parser. Each shortcut is checked against the reading it stands in for: on generated
values, and on every message under tests/.
"""

from __future__ import annotations

import email.policy
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cspr_mailbot.core.message import (
    _TEXT_POLICY,
    _fast_header_text,
    _LazyMailParser,
    _parse_with,
    _strict_sender,
    header_text,
    parse_sender,
)

TESTS = Path(__file__).parent
MESSAGES = sorted(TESTS.rglob("*.eml"))


def registry_text(name: str, value: str) -> str | None:
    """What ``policy.default`` hands back for the header: its header object's text."""
    try:
        return str(email.policy.default.header_fetch_parse(name, value))
    except Exception:  # noqa: BLE001 - the registry refusing a value is an outcome too
        return None


def our_text(name: str, value: str) -> str | None:
    try:
        return header_text(name, value)
    except Exception:  # noqa: BLE001
        return None


# --------------------------------------------------------------------------- header text

TOKEN_CHARS = "abcXYZ019!#$&+-.^_`|~"
token = st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=8)
quoted_word = st.text(alphabet="abcXYZ019!#$%&'()*+,-./:;<=>?@[]^_`{|}~", min_size=1, max_size=8)
quoted = st.lists(quoted_word, min_size=1, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"')
attribute = st.sampled_from(
    ["charset", "name", "filename", "boundary", "Name", "size", "a-b", "x.y"]
)
plain_param = st.builds(
    lambda space, a, v: f";{space}{a}={v}",
    st.sampled_from(["", " ", "\t", "  ", "\r\n ", "\n\t"]),
    attribute,
    st.one_of(token, quoted),
)
plain_type = st.one_of(
    st.builds(lambda a, b: f"{a}/{b}", token, token),
    st.sampled_from(["text/plain", "text/html", "multipart/mixed", "message/rfc822"]),
)


@st.composite
def plain_header(draw: st.DrawFn) -> tuple[str, str]:
    name = draw(
        st.sampled_from(["content-type", "Content-Disposition", "content-transfer-encoding"])
    )
    if name == "content-type":
        head = draw(plain_type)
    else:
        head = draw(st.one_of(token, st.sampled_from(["attachment", "inline", "base64", "7bit"])))
    params = draw(st.lists(plain_param, max_size=4)) if name != "content-transfer-encoding" else []
    return name, head + "".join(params) + draw(st.sampled_from(["", "", " ", "\t"]))


@settings(max_examples=600, deadline=None)
@given(plain_header())
def test_plain_header_text_is_the_registry_text(header: tuple[str, str]) -> None:
    name, value = header
    assert our_text(name, value) == registry_text(name, value)


def test_the_plain_shapes_take_the_shortcut() -> None:
    assert (
        _fast_header_text("content-type", "text/plain; charset=utf-8")
        == 'text/plain; charset="utf-8"'
    )
    assert _fast_header_text("Content-Type", 'multipart/mixed;\tboundary="=_b 1"') == (
        'multipart/mixed; boundary="=_b 1"'
    )
    assert _fast_header_text("content-disposition", "attachment; filename=a.docx; size=12") == (
        'attachment; filename="a.docx"; size="12"'
    )
    assert _fast_header_text("content-transfer-encoding", "base64") == "base64"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("content-type", 'text/plain; name="=?utf-8?q?R=C3=A9f?="'),  # an encoded-word, decoded
        ("content-type", "text/plain; name*=utf-8''R%C3%A9f.docx"),  # RFC 2231
        ("content-type", "text/plain; name*0=a; name*1=b"),
        ("content-type", "text/plain; charset=a; charset=b"),  # a duplicate, dropped
        ("content-type", 'text/plain; name="a\\"b"'),
        ("content-type", 'text/plain; name=""'),
        ("content-type", "text/plain (a comment); charset=utf-8"),
        ("content-type", "  Text/Plain ; charset = utf-8 ;"),
        ("content-type", "text/plain; charset=utf-8 (comment)"),
        ("content-type", "attachment; filename=a"),  # a disposition's value under another name
        ("content-disposition", "text/plain; charset=utf-8"),
        ("content-disposition", "attachment; filename=\udce9t\udce9.docx"),  # 8-bit bytes
        ("content-transfer-encoding", " Base64 "),
        ("content-transfer-encoding", "base64; x=y"),
        ("content-type", 'multipart/mixed;\r\n boundary="abc"'),
        ("subject", "=?utf-8?q?a?= b"),
        ("content-type", ""),
        ("content-type", "/"),
        ("content-type", ";"),
    ],
)
def test_odd_header_text_is_the_registry_text(name: str, value: str) -> None:
    assert our_text(name, value) == registry_text(name, value)
    assert our_text(name, value) == registry_text(name, value)  # again, now remembered


def test_remembered_text_is_per_header_name() -> None:
    value = "attachment; filename=a.docx"
    for name in ("content-disposition", "content-type", "content-disposition", "content-type"):
        assert header_text(name, value) == registry_text(name, value)


near_miss = st.text(alphabet="abX09 \t\r\n;=\"'\\/*%()<>@,:?[]{}.-_", max_size=40)


@settings(max_examples=600, deadline=None)
@given(
    st.sampled_from(["content-type", "content-disposition", "content-transfer-encoding"]),
    st.one_of(near_miss, st.builds(lambda h, tail: h[1] + tail, plain_header(), near_miss)),
)
def test_any_header_text_is_the_registry_text(name: str, value: str) -> None:
    assert our_text(name, value) == registry_text(name, value)


@pytest.mark.parametrize("path", MESSAGES, ids=[str(p.relative_to(TESTS)) for p in MESSAGES])
def test_a_message_parses_as_under_policy_default(path: Path) -> None:
    raw = path.read_bytes()
    fast = _parse_with(raw, "1", _TEXT_POLICY, _LazyMailParser(raw))
    assert fast == _parse_with(raw, "1", email.policy.default, _LazyMailParser(raw))


# --------------------------------------------------------------------------- the sender

word = st.text(alphabet="abcXYZ019", min_size=1, max_size=6)
atom = st.text(alphabet="abcXYZ019_+-", min_size=1, max_size=6)
label = st.text(alphabet="abcXYZ019-", min_size=1, max_size=6)
address = st.builds(
    lambda local, domain: ".".join(local) + "@" + ".".join(domain),
    st.lists(atom, min_size=1, max_size=3),
    st.lists(label, min_size=2, max_size=3),
)
plain_from = st.one_of(
    address,
    st.builds(lambda a: f"<{a}>", address),
    st.builds(
        lambda ws, a: " ".join(ws) + f" <{a}>", st.lists(word, min_size=1, max_size=3), address
    ),
)


@settings(max_examples=500, deadline=None)
@given(plain_from)
def test_a_plain_sender_is_read_as_strictly(value: str) -> None:
    assert re.fullmatch(r"[^\s<>]+@[^\s<>]+|([\w ]+ )?<[^\s<>]+>", value)
    assert parse_sender([value]) == _strict_sender(value)
    assert parse_sender([value]).addr == value.rsplit("<", 1)[-1].strip("<>").lower()


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.builds(
            lambda f, tail: f + tail,
            plain_from,
            st.text(alphabet=' ,;<>()"@.:=?\n\r\t\x00', max_size=4),
        ),
        st.builds(
            lambda head, f: head + f, st.text(alphabet=' ,;<>()"@.:=?\n\t', max_size=4), plain_from
        ),
    )
)
def test_a_sender_near_the_plain_shape_is_read_as_strictly(value: str) -> None:
    unfolded = re.sub(r"\r?\n(?=[ \t])", "", value).replace("\r", "").replace("\n", "")
    assert parse_sender([value]) == _strict_sender(unfolded)


@pytest.mark.parametrize(
    "value",
    [
        "Jane Smith <jane@agency.example.org>",
        "jane@agency.example.org",
        "<jane@agency.example.org>",
        "Jane  Smith <jane@agency.example.org>",
        "Jane Smith  <jane@agency.example.org>",
        "jane@agency.example.org <jane@agency.example.org>",
        "Jane <jane@agency.example.org>, Bob <bob@agency.example.org>",
        "Jane <jane@agency.example.org> ",
        "jane@agency",
        "Jane Smith <jane..smith@agency.example.org>",
    ],
)
def test_a_sender_is_read_as_strictly(value: str) -> None:
    assert parse_sender([value]) == _strict_sender(value)
