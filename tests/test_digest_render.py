"""The digest's HTML at Outlook's reading-pane width (SPEC 6): rendered by headless Chromium at 700 and 1000 px.

At 700 px the reference and date cells must not wrap and nothing may need a horizontal scroll. A script
added to the page measures every cell as Chromium laid it out (the lines each reference or date cell takes,
the page's scroll width) and writes the result into the DOM, which ``--dump-dom`` prints. The screenshots are
written too (set ``CSPR_SCREENSHOTS=DIR`` to keep them) so that a person can look at them.

Chromium comes from apt (scripts/test installs it); the test installs nothing and is skipped without it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from test_digest import CAL, CASES, CHILD, NOW, TS, make_case, render

from cspr_mailbot.core import digest
from cspr_mailbot.core.models import Agency

BROWSER = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)

# Not skipped when missing: scripts/test installs chromium, and a test that quietly does not run
# checks nothing. Run the suite through scripts/test, or install chromium.
if BROWSER is None:
    raise RuntimeError(
        "tests/test_digest_render.py needs chromium: run scripts/test, which installs it"
    )

MEASURE = """
<script>
(function () {
  var day = "(Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
  var refOrDate = new RegExp("^(DSPP-\\\\d{4}-\\\\d{4}|" + day + " \\\\d{1,2} [A-Z][a-z]{2} \\\\d{4}|"
    + day + " \\\\d{2}:\\\\d{2})$");
  function lines(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var tops = {};
    Array.prototype.forEach.call(range.getClientRects(), function (r) {
      if (r.width > 0) { tops[Math.round(r.top)] = true; }
    });
    return Object.keys(tops).length;
  }
  var cells = [];
  Array.prototype.forEach.call(document.querySelectorAll("td"), function (td) {
    var text = td.textContent.trim();
    if (refOrDate.test(text)) {
      cells.push({text: text, lines: lines(td), nowrap: /white-space:\\s*nowrap/.test(td.getAttribute("style") || "")});
    }
  });
  var out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify({
    viewport: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    cells: cells
  });
  document.body.appendChild(out);
})();
</script>
"""


def busy_digest() -> digest.Digest:
    """A full day: every kind of row, long agency names, three scoping requests, a refusal."""
    many = [
        make_case(
            f"DSPP-2026-{n:04d}",
            "rapid_review",
            "2026-11-16",
            aware_date=date(2026, 11, 16),
            agencies=(
                Agency(
                    "Black Country Healthcare NHS Foundation Trust",
                    "bch@example.nhs.uk",
                    requested_on=date(2026, 11, 20),
                ),
                Agency(
                    "Dudley Children's Services",
                    "csc@example.gov.uk",
                    requested_on=date(2026, 11, 20),
                ),
            ),
        )
        for n in range(20, 24)
    ]
    sent = [
        {
            "case_reference": "DSPP-2026-0006",
            "subject": "OFFICIAL-SENSITIVE [DSPP-2026-0006] Initial Scoping request",
            "to": [to],
            "cc": ["coordinator@example.gov.uk"] if to.startswith("p") else [],
            "sent_at": f"2026-12-02T{h:02d}:15:00+00:00",
        }
        for to, h in (
            ("pvp.safeguarding@example.police.uk", 9),
            ("education.safeguarding@dudley.example.gov.uk", 10),
            ("dsl@oakfield-primary.example.sch.uk", 11),
        )
    ]
    refused = [
        {
            "case_reference": "DSPP-2026-0020",
            "subject": "OFFICIAL-SENSITIVE [DSPP-2026-0020] Initial Scoping return: overdue",
            "to": ["old.address@example.nhs.uk"],
            "failed_at": "2026-12-02T14:00:00+00:00",
            "last_error": "550 5.1.1 <old.address@example.nhs.uk>: Recipient address rejected",
        }
    ]
    return digest.build_digest(
        CASES + many,
        sent,
        NOW,
        CAL,
        TS,
        None,
        coordinators=("coordinator@example.gov.uk",),
        undelivered=refused,
    )


def chromium(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    assert BROWSER is not None
    return subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            f"--user-data-dir={tmp / 'profile'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.mark.parametrize("width", [700, 1000])
def test_the_digest_reads_at_the_reading_panes_width(width: int, tmp_path: Path) -> None:
    html = render("digest.html", busy_digest())
    assert CHILD not in html
    page = tmp_path / "measured.html"
    page.write_text(html.replace("</body>", MEASURE + "</body>"), encoding="utf-8")
    (tmp_path / "digest.html").write_text(html, encoding="utf-8")  # as sent, for the picture
    size = f"--window-size={width},2000"

    dom = chromium(["--dump-dom", size, page.as_uri()], tmp_path).stdout
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    measured = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert measured["viewport"] == width
    assert measured["scrollWidth"] <= width, "the digest needs a horizontal scroll"
    cells = measured["cells"]
    assert len(cells) > 20  # references, due dates and send times were all found
    wrapped = [c["text"] for c in cells if c["lines"] != 1]
    assert wrapped == [], f"wrapped at {width} px: {wrapped}"
    assert all(c["nowrap"] for c in cells)  # and they say so for Outlook, which has no layout test

    shot = tmp_path / f"digest-{width}.png"
    chromium([f"--screenshot={shot}", size, (tmp_path / "digest.html").as_uri()], tmp_path)
    assert shot.stat().st_size > 10_000
    keep = os.environ.get("CSPR_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)
