"""adapters/mime.py writes the bytes EmailMessage(policy=SMTP) wrote for the same message.

The outbox built each message with ``EmailMessage``; ``legacy_bytes`` below is that code, kept as the
reference. On a broad set of messages (ASCII and not, long and folded headers, display names, line
breaks, 7bit/8bit/quoted-printable/base64 bodies, attachments with odd names) both are built with the
same random state and must give the same bytes, and so, parsed by the stdlib, the same headers, parts
and decoded text.
"""

from __future__ import annotations

import email
import random
import string
from email.message import EmailMessage
from email.policy import SMTP, default

import pytest

from cspr_mailbot.adapters import mime
from cspr_mailbot.core.models import OutAttachment

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def seven_bit(text: str) -> str | None:
    """The transfer encoding asked of ``set_content``: "7bit" for ASCII (no NUL) in lines of at most
    998 (RFC 5322's limit), which mime.text_part sends as they are; else None, the stdlib's choice."""
    longest = max(map(len, text.encode("utf-8").splitlines()), default=0)
    plain = text.isascii() and "\0" not in text
    return "7bit" if 78 < longest <= 998 and plain else None


def legacy_bytes(
    headers: list[tuple[str, str]], text: str, html: str, attachments: list[OutAttachment]
) -> bytes:
    """The outbox's MIME building before adapters/mime.py (Renderer.render, up to 2026-12), with
    ASCII text in lines up to 998 sent 7bit (``seven_bit``) rather than quoted-printable."""
    msg = EmailMessage(policy=SMTP)
    for name, value in headers:
        msg[name] = value
    msg.set_content(text, cte=seven_bit(text))
    msg.add_alternative(html, subtype="html", cte=seven_bit(html))
    for att in attachments:
        maintype, _, subtype = att.content_type.partition("/")
        msg.add_attachment(att.data, maintype=maintype, subtype=subtype, filename=att.filename)
    return msg.as_bytes()


def _words(
    rng: random.Random, n: int, alphabet: str = string.ascii_letters + "0123456789-.,:"
) -> str:
    return " ".join(
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) for _ in range(n)
    )


def _msgid(rng: random.Random, size: int = 60) -> str:
    local = "".join(rng.choice(string.digits + ".") for _ in range(size)).strip(".") or "1"
    return f"<{local.replace('..', '.')}.x@agency.example.org>"


SUBJECTS = [
    "OFFICIAL-SENSITIVE [DSPP-2026-0001] Referral received",
    "",
    "x",
    "OFFICIAL-SENSITIVE [DSPP-2026-0007] Initial Scoping request: Dudley Children's Services and a "
    "rather long agency name that goes on",
    "Re: Zoë's school — a non-ASCII subject that is long enough to be folded across two lines or more",
    "Ünïcödé",
    "a  double  space and a trailing one ",
    " leading space",
    "tab\there",
    "=?utf-8?q?looks_encoded?= but is not",
    "word" * 30,
    'semi;colons,commas (parens) "quotes" <angles> @at',
    "OFFICIAL-SENSITIVE [DSPP-2026-0001] " + "Ab " * 40,
]
TOS = [
    ("referrer0@agency0.example.org",),
    ("a@b.example", "c@d.example"),
    tuple(f"coordinator{k}@dudley.example.gov.uk" for k in range(6)),
    ("Mrs Khan <dsl@oak.example>",),
    ('"Smith, John" <j.smith@example.org>', "J. Smith <js@example.org>"),
    ("Zoë Ångström <zoe@example.org>",),
    ("odd..dots@example.org",),
    ("UPPER@EXAMPLE.ORG",),
]
TEXTS = [
    "Dear colleague,\n\nShort lines only.\n",
    "",
    "no newline at the end",
    "a line long enough that quoted-printable must break it, " * 4 + "\n" + "second\n" * 12,
    "Zoë\nshort non-ASCII lines\n",
    "ëëëë" * 40 + "\n",
    "windows\r\nline\r\nends\r\n",
    "old mac\rline ends\r",
    "trailing space \nand tab\t\n" + "x" * 100 + " \n",
    "=3D looks encoded = signs == and --===============1234567890123456789==\n",
    "vertical\x0btab and form\x0cfeed and \u2028 separators\n",
    "<p>html &amp; entities</p>\n" * 30,
    "€ " * 200,
]


def _cases() -> list[tuple[list[tuple[str, str]], str, str, list[OutAttachment]]]:
    rng = random.Random(15)
    cases = []
    for k in range(160):
        headers = [
            ("From", "Dudley Safeguarding People Partnership <dsppb@example.gov.uk>"),
            ("To", ", ".join(TOS[k % len(TOS)])),
        ]
        if k % 3 == 0:
            headers.append(("Cc", ", ".join(TOS[(k + 3) % len(TOS)])))
        headers.append(("Subject", SUBJECTS[k % len(SUBJECTS)]))
        headers.append(("Date", "Mon, 30 Nov 2026 10:00:00 +0000"))
        domain = "example.gov.uk" if k % 5 else "a-very-long-partnership-domain.example.gov.uk"
        headers.append(("Message-ID", f"<179616965605.10336.{rng.getrandbits(64)}.cspr@{domain}>"))
        if k % 4:
            parent = _msgid(rng, rng.choice([20, 60, 70, 90]))
            headers.append(("In-Reply-To", parent))
            refs = [_msgid(rng, rng.choice([20, 50, 64])) for _ in range(k % 5)] + [parent]
            headers.append(("References", " ".join(refs)))
        headers.append(("Auto-Submitted", "auto-replied" if k % 2 else "auto-generated"))
        headers.append(("X-Auto-Response-Suppress", "All"))
        headers.append(("X-CSPR-Mailbot", _words(rng, k % 20) or "acknowledgement"))
        text = TEXTS[k % len(TEXTS)]
        html = TEXTS[(k * 7 + 3) % len(TEXTS)]
        attachments = []
        if k % 6 == 0:
            attachments.append(
                OutAttachment("scoping.docx", DOCX, rng.randbytes(rng.randint(0, 3000)))
            )
        if k % 12 == 0:
            attachments.append(
                OutAttachment(
                    "deadlines.ics", "text/calendar; charset=utf-8; method=PUBLISH", b"BEGIN"
                )
            )
        if k % 18 == 0:
            attachments.append(OutAttachment("Zoë’s referral (final).docx", DOCX, b""))
        if k % 24 == 0:
            attachments.append(OutAttachment("a " * 50 + ".pdf", "application/pdf", b"%PDF"))
        cases.append((headers, text, html, attachments))
    return cases


CASES = _cases()


@pytest.mark.parametrize("k", range(len(CASES)))
def test_same_bytes_as_email_message(k: int) -> None:
    headers, text, html, attachments = CASES[k]
    random.seed(k)
    old = legacy_bytes(headers, text, html, attachments)
    random.seed(k)
    new = mime.message_bytes(headers, text, html, attachments)
    assert new == old


@pytest.mark.parametrize("k", range(0, len(CASES), 7))
def test_parses_the_same(k: int) -> None:
    """Whatever the random state: the same headers, parts and decoded contents."""
    headers, text, html, attachments = CASES[k]
    old = email.message_from_bytes(legacy_bytes(headers, text, html, attachments), policy=default)
    new = email.message_from_bytes(
        mime.message_bytes(headers, text, html, attachments), policy=default
    )
    assert [(n, str(v)) for n, v in new.items() if n != "Content-Type"] == [
        (n, str(v)) for n, v in old.items() if n != "Content-Type"
    ]
    old_parts, new_parts = list(old.walk()), list(new.walk())
    assert len(new_parts) == len(old_parts)
    for a, b in zip(old_parts, new_parts, strict=True):
        assert b.get_content_type() == a.get_content_type()
        assert b.get_filename() == a.get_filename()
        assert b["Content-Transfer-Encoding"] == a["Content-Transfer-Encoding"]
        if not b.is_multipart():
            assert b.get_content() == a.get_content()
    raw = mime.message_bytes(headers, text, html, attachments)
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only
    assert b"\r" not in raw.replace(b"\r\n", b"")


def _same_as_stdlib(name: str, value: str) -> None:
    """mime.header gives the stdlib's folded header, or fails as the stdlib fails."""
    try:
        expected: object = mime._stdlib_header.__wrapped__(name, value)
    except Exception as e:  # the stdlib's own parser gives up on some garbage
        with pytest.raises(type(e)):
            mime.header(name, value)
        return
    assert mime.header(name, value) == expected, value


def _header_values(rng: random.Random) -> list[str]:
    values = []
    for _ in range(600):
        n = rng.randint(1, 30)
        size = rng.choice([3, 8, 20, 40, 70, 76, 77, 78, 90])
        values.append(
            " ".join(
                "".join(
                    rng.choice(string.ascii_letters + "!#$%&*+-./:;<>?@[]^_{}|~\"'(),")
                    for _ in range(rng.randint(1, size))
                )
                for _ in range(n)
            )
        )
    return values


@pytest.mark.parametrize(
    "name",
    ["Subject", "In-Reply-To", "References", "X-CSPR-Mailbot", "Auto-Submitted", "Message-ID"],
)
def test_header_folding_is_the_stdlib_s(name: str) -> None:
    """The fast folding gives the stdlib's bytes for every value it takes on (and defers the rest)."""
    rng = random.Random(name)
    values = _header_values(rng)
    values += [_msgid(rng, size) for size in range(1, 120)]
    values += [f"<{'1' * n}.cspr@{'d' * m}.example>" for n in (10, 40) for m in range(1, 60, 3)]
    for value in values:
        _same_as_stdlib(name, value)


@pytest.mark.parametrize("name", ["To", "Cc", "From"])
def test_address_headers_are_the_stdlib_s(name: str) -> None:
    rng = random.Random(name)
    alphabet = string.ascii_letters + string.digits + "._+-'"
    for _ in range(400):
        addresses = [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 20)))
            + "@"
            + ".".join(
                _words(rng, 1, string.ascii_lowercase + "-") for _ in range(rng.randint(1, 3))
            )
            for _ in range(rng.randint(1, 5))
        ]
        _same_as_stdlib(name, ", ".join(addresses))


def test_multipart_content_type_is_the_stdlib_s() -> None:
    for subtype in ("alternative", "mixed"):
        for seed in range(20):
            random.seed(seed)
            content_type, _ = mime.multipart(subtype, [b"x"])
            boundary = content_type.split('"')[1]
            msg = EmailMessage(policy=SMTP)
            msg["Content-Type"] = f"multipart/{subtype}"
            msg.set_boundary(boundary)
            assert content_type == SMTP.fold("Content-Type", msg["Content-Type"])


def test_line_breaks_in_a_header_are_refused() -> None:
    for value in ("a\nb", "a\r\nBcc: x@y.example", "a\rb"):
        with pytest.raises(ValueError):
            mime.header("Subject", value)
    with pytest.raises(ValueError):
        EmailMessage(policy=SMTP)["Subject"] = "a\nb"


def test_a_boundary_is_never_in_the_parts() -> None:
    random.seed(3)
    taken = f"{'=' * 15}{random.randrange(2**63 - 1):019d}=="
    random.seed(3)
    content_type, body = mime.multipart("mixed", [f"--{taken}\r\n".encode()])
    assert taken not in content_type
    assert body.count(b"--" + content_type.split('"')[1].encode()) == 2


def test_long_lines_are_encoded_as_set_content_encodes_them() -> None:
    """text_part's transfer encoding and body are set_content's, byte for byte, at the edges of
    quoted-printable (=, white space at a line's end, =XX at a cut, lines of 76 to 400)."""
    from email.message import EmailMessage
    from email.policy import SMTP

    rng = random.Random(78)
    pieces = [
        "a",
        "b",
        " ",
        "\t",
        "=",
        "é",
        "€",
        "\x00",
        "\x7f",
        "\x0b",
        "\x1c",
        "\x85",
        ".",
        "x" * 70,
    ]
    for _ in range(3000):
        lines = [
            "".join(
                rng.choice(pieces) for _ in range(rng.choice([0, 1, 5, 20, 60, 76, 77, 78, 79]))
            )
            for _ in range(rng.randint(1, 6))
        ]
        if rng.random() < 0.3:  # plain lines around the cuts: 77, 78, 79, 154, 155...
            lines.append("y" * rng.choice([76, 77, 78, 79, 80, 153, 154, 155, 156, 231, 232, 400]))
        text = "\n".join(lines) + "\n"
        reference = EmailMessage(policy=SMTP)
        reference.set_content(text, subtype="plain", cte=seven_bit(text))
        want = reference.as_bytes().split(b"\r\n\r\n", 1)[1]
        head, got = mime.text_part(text, "plain").split(b"\r\n\r\n", 1)
        assert got == want, lines
        assert (
            f"Content-Transfer-Encoding: {reference['Content-Transfer-Encoding']}".encode() in head
        )


def test_ascii_lines_up_to_998_go_as_they_are_not_quoted_printable() -> None:
    """An HTML part's long lines of ASCII are sent 7bit, unchanged (RFC 5322 allows 998); a line of
    999, a NUL or a non-ASCII character keeps the stdlib's quoted-printable."""
    html = "<p>" + "word " * 150 + '</p>\n<td style="padding:0">a=b</td>\n'
    head, body = mime.text_part(html, "html").split(b"\r\n\r\n", 1)
    assert b"Content-Transfer-Encoding: 7bit" in head
    assert body == html.replace("\n", "\r\n").encode("ascii")
    parsed = email.message_from_bytes(head + b"\r\n\r\n" + body, policy=default)
    assert parsed.get_content().splitlines() == html.splitlines()
    edge = "x" * 998 + "\n"
    assert b"7bit" in mime.text_part(edge, "plain")
    for text in ("x" * 999 + "\n", "x" * 100 + "\0\n", "x" * 100 + "é\n"):
        part = mime.text_part(text, "plain")
        assert b"7bit" not in part and b"8bit" not in part, text
        got = email.message_from_bytes(part, policy=default).get_content()
        assert got.splitlines() == text.splitlines(), text


def test_quoted_printable_is_body_encode() -> None:
    """mime.quoted_printable gives quoprimime.body_encode(data, 78) on its own, for text of plain
    ASCII (the str.replace path) and not (the table), with CR, LF and CRLF line ends, =, =XX at a
    cut and white space at a line's end."""
    from email import quoprimime

    rng = random.Random(1578)
    pieces = ["a", "Z", " ", "\t", "=", "==", "=3D", "é", "\xff", "\x00", "\x7f", "\x0b", "\x85"]
    pieces += ["\n", "\r", "\r\n", ".", "x" * 70, "=" * 30, " " * 10]
    plain = [p for p in pieces if p.isascii() and (p.isprintable() or p in "\t\r\n")]
    cases = ["", "\n", "\r", " ", "\t\n", "=", "a" * 78, "a" * 79, "a" * 77 + " ", "a" * 78 + " "]
    for _ in range(4000):
        alphabet = plain if rng.random() < 0.5 else pieces
        cases.append("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 60))))
    mime._cut.cache_clear()
    for _ in range(2):  # the lines cut anew, then the same lines from the cache
        for data in cases:
            assert mime.quoted_printable(data) == quoprimime.body_encode(data, mime.MAXLEN), data
    assert mime._cut.cache_info().hits
