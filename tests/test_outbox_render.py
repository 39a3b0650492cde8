"""The per-message fast paths of Renderer.render give what the plain code gave."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from cspr_mailbot.adapters.outbox import Renderer
from cspr_mailbot.core.models import OutboundMessage

LONDON = ZoneInfo("Europe/London")


def _renderer() -> Renderer:
    return Renderer(
        partnership_name="Dudley Safeguarding People Partnership",
        mailbox="dsppb@example.gov.uk",
        subject_marking="OFFICIAL-SENSITIVE",
    )


def _notice() -> OutboundMessage:
    return OutboundMessage(
        key="n:1",
        template="doctor_test",
        to=("coordinator@example.gov.uk",),
        subject="Test",
        context={"source": "x"},
        internal=True,
    )


def _date(raw: bytes) -> str:
    line = next(h for h in raw.split(b"\r\n") if h.startswith(b"Date: "))
    return line[6:].decode()


def test_the_date_header_is_format_datetime_of_now_whatever_its_zone() -> None:
    """The same instant in two zones is two Date headers; a cached one is never the other's."""
    r = _renderer()
    summer_utc = datetime(2026, 7, 1, 10, 0, tzinfo=UTC)
    summer_london = summer_utc.astimezone(LONDON)  # 11:00 BST, equal to 10:00 UTC
    winter = datetime(2026, 11, 30, 10, 0, tzinfo=LONDON)
    for now in (summer_utc, summer_london, summer_utc, winter, winter.astimezone(UTC)):
        assert _date(r.render(_notice(), now).raw) == format_datetime(now)
    assert _date(r.render(_notice(), summer_london).raw).endswith("11:00:00 +0100")


def test_uncased_beyond_ascii_is_the_set_of_every_character_s() -> None:
    """The characters past ASCII, found by one search, decide as every character of the text did."""
    import random

    from cspr_mailbot.adapters.outbox import _uncased_beyond_ascii

    def plain(text: str) -> bool:
        return text.isascii() or not any(
            c.lower() != c or c.upper() != c for c in set(text) if not c.isascii()
        )

    rng = random.Random(15)
    alphabet = "aZ09 _-\n\t·’—€éÉ\u212aſ\x7f\x80ÿ中"
    texts = ["", "plain", "·", "é", "a·b", "\x7f", "\x80"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 30))) for _ in range(3000)]
    for text in texts:
        assert _uncased_beyond_ascii(text) == plain(text), text


def test_recipients_are_getaddresses_of_to_and_cc_as_each_message_has_them() -> None:
    """``Rendered.recipients`` (cached by To and Cc) is what parsing that message's To and Cc gives."""
    from dataclasses import replace
    from email.utils import getaddresses

    r = _renderer()
    now = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    cases = [
        (("coordinator@example.gov.uk",), ()),
        (('"Smith, Jo" <jo.smith@example.org>', "b@example.org"), ("C <c@example.org>",)),
        (("b@example.org",), ('"Smith, Jo" <jo.smith@example.org>',)),
        (("Undisclosed recipients:;", "d@example.org"), ()),
        (("coordinator@example.gov.uk",), ()),  # again: from the cache, the same
    ]
    for to, cc in cases:
        got = r.render(replace(_notice(), to=to, cc=cc), now).recipients
        assert got == tuple(a for _, a in getaddresses([*to, *cc]) if a)
