"""The command line (SPEC 8): argument parsing, logging set-up (the only place) and exit codes.

Exit codes: 0 done, 1 a run-time failure, 2 a usage or config error (the message names the key).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import threading
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .errors import ConfigError, MailbotError, MailSourceError, StoreDamaged, UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from .config import Config
    from .core.models import Case
    from .core.records import OutboxRecord

logger = logging.getLogger("cspr_mailbot")

CONFIG_ENV = "CSPR_MAILBOT_CONFIG"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="cspr-mailbot", description="Intake, deadlines and chasers for CSPRs, by email."
    )
    p.add_argument(
        "-c", "--config", help=f"the TOML file (default: ${CONFIG_ENV}, ./config.toml, or built-in)"
    )
    p.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="default [logging] level, else INFO (WARNING for demo, whose own output tells the story)",
    )
    p.add_argument("--version", action="version", version=f"cspr-mailbot {__version__}")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="the daemon (IMAP IDLE, schedule); --once for one pass")
    run.add_argument("--once", action="store_true", help="one full pass, then exit")
    run.add_argument(
        "--now", help="the clock for this pass (ISO date-time; London time if no offset)"
    )

    cases = sub.add_parser("cases", help="list open cases")
    cases.add_argument("--json", action="store_true")
    cases.add_argument("--all", action="store_true", help="closed cases too")

    case = sub.add_parser("case", help="one case")
    case.add_argument("reference")
    case.add_argument("--json", action="store_true")

    dg = sub.add_parser("digest", help="print the daily digest (or --send it)")
    dg.add_argument("--send", action="store_true")
    dg.add_argument("--now")

    cmd = sub.add_parser(
        "command", help='run coordinator commands on a case: command REF "decision: cspr"'
    )
    cmd.add_argument("reference")
    cmd.add_argument("text", nargs="+")
    cmd.add_argument("--now")

    sub.add_parser("check-config", help="check the configuration and exit")

    rep = sub.add_parser("report", help="timeliness figures for a date range")
    rep.add_argument("--from", dest="start", required=True)
    rep.add_argument("--to", dest="end", required=True)
    rep.add_argument("--csv", action="store_true")

    pk = sub.add_parser("pack", help="write a case's Rapid Review pack (.docx)")
    pk.add_argument("reference")
    pk.add_argument("-o", "--output", required=True)
    pk.add_argument("--now")

    forms = sub.add_parser(
        "forms", help="write the blank referral form or scoping template (.docx)"
    )
    forms.add_argument("which", choices=["referral", "scoping"])
    forms.add_argument("-o", "--output", required=True)

    rs = sub.add_parser("resend", help="send again what was refused for good: resend REF|all")
    rs.add_argument("reference", metavar="REFERENCE|all")
    rs.add_argument("--now")

    export = sub.add_parser(
        "export", help="everything held on a case, for a subject access request: export REF -o DIR"
    )
    export.add_argument("reference")
    export.add_argument("-o", "--output", required=True, help="a new or empty folder")

    backup = sub.add_parser("backup", help="a consistent copy of the store, safe while it runs")
    backup.add_argument("-o", "--output", required=True)

    purge = sub.add_parser("purge", help="closed cases past [retention]: listed, or removed")
    purge.add_argument("--apply", action="store_true", help="remove them (one audit line each)")
    purge.add_argument("--now")

    doctor = sub.add_parser(
        "doctor", help="live checks: config, IMAP login and folders, sending, store, templates"
    )
    doctor.add_argument(
        "--send-test", metavar="ADDRESS", help="also send a test message to ADDRESS"
    )

    status = sub.add_parser("status", help="what the running daemon last did, and if it is well")
    status.add_argument("--json", action="store_true")

    demo = sub.add_parser("demo", help="run the whole job on sample mail, with no server")
    demo.add_argument("dir", nargs="?", default="cspr-demo")
    return p


# -- helpers -------------------------------------------------------------------------------------


def parse_now(text: str | None) -> datetime:
    """``--now``: an ISO date or date-time; without an offset it is London time. Returned in UTC."""
    from .core.workdays import LONDON

    if not text:
        return datetime.now(tz=UTC)
    try:
        if len(text) == 10:
            value = datetime.combine(date.fromisoformat(text), time(9, 0))
        else:
            value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--now: {text!r} is not an ISO date-time like 2026-12-03T09:30") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=LONDON)
    return value.astimezone(UTC)


def parse_day(flag: str, text: str) -> date:
    from .core.ukdates import parse_uk_date

    parsed = parse_uk_date(text)
    if parsed is None:
        raise UsageError(f"{flag}: {text!r} is not a date")
    return parsed


def default_config() -> Config:
    """The embedded default: a local Maildir and store under ./store, replies as .eml files."""
    from .config import parse_config

    return parse_config(
        {
            "partnership": {
                "mailbox": "dsppb@example.gov.uk",
                "coordinators": ["coordinator@example.gov.uk"],
            }
        }
    )


def resolve_config(arg: str | None) -> Config:
    # The config (and the core modules it types its sections with) is imported here, not at the
    # top: ``--version`` and a usage error need none of it.
    from .config import load_config

    path = arg or os.environ.get(CONFIG_ENV)
    if path:
        return load_config(path)
    if Path("config.toml").is_file():
        return load_config("config.toml")
    return default_config()


def undelivered_json(records: Sequence[OutboxRecord]) -> list[dict[str, Any]]:
    """SPEC 8 ``undelivered``: what was refused for good and not sent again since."""
    return [
        {
            "to": list(r.refused_to or r.recipients),
            "subject": r.subject,
            "refused_at": r.failed_at.isoformat() if r.failed_at else None,
            "reason": r.last_error or "",
            "template": r.template,
        }
        for r in records
    ]


def case_json(case: Case, cfg: Config, undelivered: Sequence[OutboxRecord] = ()) -> dict[str, Any]:
    """One case in the SPEC 8 shape (with a few more keys); ``undelivered``: its records refused."""
    from .core.deadlines import case_deadlines
    from .core.workdays import WorkingCalendar

    dl = case_deadlines(case, WorkingCalendar(cfg.closures, cfg.cutoff), cfg.timescales)
    raw = case.to_dict()  # dates as ISO strings
    return {
        "reference": case.reference,
        "status": case.status,
        "received_at": raw["received_at"],
        "received_on": raw["received_on"],
        "referral": case.referral,
        "criteria": case.criteria,
        "deadlines": dl.as_json(),
        "deadlines_provisional": {
            "sin": bool(dl.sin and dl.sin.provisional),
            "rapid_review": bool(dl.rapid_review and dl.rapid_review.provisional),
        },
        "agencies": [
            {
                key: a[key]
                for key in ("name", "email", "requested_on", "due", "returned_on", "chasers_sent")
            }
            | {"trusted": cfg.trust.trusts(a["email"])}  # from the config now (SPEC 5, 8)
            | {"return": _return_json(a["scoping"])}
            for a in raw["agencies"]
        ],
        "triage_reasons": list(case.triage_reasons),
        "linked_cases": raw["linked_cases"],
        "duplicate_of": raw["duplicate_of"],
        # Returns awaiting ``accept return:`` (SPEC 3): who sent them and for which agency.
        "held_returns": [
            {"agency": h.agency_name, "from": h.from_addr, "received_at": h.received_at.isoformat()}
            for h in case.held_returns
        ],
        "decision": case.decision,
        **{
            key: raw[key]
            for key in (
                "decision_date",
                "aware_date",
                "notified_date",
                "completed_on",
                "published_on",
                "closed_on",
            )
        },
        "undelivered": undelivered_json(undelivered),
        "events": sorted(raw["events"], key=lambda e: e["at"]),
    }


def _return_json(scoping: dict[str, Any] | None) -> dict[str, Any] | None:
    """An agency's return as SPEC 8 shows it: the template's fields and its ``chronology``, a list
    of ``{date, event, agency}`` (empty when the table was left blank); None before it returned."""
    if scoping is None:
        return None
    return {**scoping, "chronology": list(scoping.get("chronology") or [])}


def _warn_holidays(cfg: Config) -> None:
    from .adapters.bankholidays import calendar

    cal = calendar(cfg)  # the bank holidays kept beside the store: the package is not imported
    if not cal.covers(date.today() + timedelta(days=365)):
        logger.warning(
            "the bank holiday data does not cover the next 12 months: update the holidays package"
        )


def _warn_sender_check(cfg: Config) -> None:
    """SPEC 9: with no sender check, anyone who can write ``From:`` can steer a case. Said at every start."""
    if cfg.security.sender_check == "none":
        logger.warning(
            "[security] sender_check is none: a forged From: a coordinator is obeyed; set it to "
            "exchange-internal or authentication-results"
        )


def mail_source(cfg: Config) -> str:
    """Where mail is read from, for the start-up line, check-config and status."""
    if cfg.imap is None:
        return f"Maildir {cfg.maildir}"
    auth = " XOAUTH2" if cfg.imap.auth == "oauth2" else ""
    return f"IMAP {cfg.imap.username}@{cfg.imap.host}:{cfg.imap.port} ({cfg.imap.security}{auth})"


def sending_path(cfg: Config) -> str:
    if cfg.smtp is None:
        return f".eml files in {cfg.outbox_dir}"
    if cfg.smtp.transport == "graph":
        assert cfg.oauth2 is not None
        return f"Microsoft Graph {cfg.oauth2.graph_url} as {cfg.smtp.username}"
    auth = " XOAUTH2" if cfg.smtp.auth == "oauth2" else ""
    return f"SMTP {cfg.smtp.host}:{cfg.smtp.port} ({cfg.smtp.security}{auth})"


def make_health(cfg: Config) -> Any:
    from .health import Health

    return Health(
        cfg.status_file,
        timedelta(minutes=cfg.health.alert_after_minutes),
        version=__version__,
        pid=os.getpid(),
        config=str(cfg.source_path or "(built-in default)"),
        source=mail_source(cfg),
        poll_seconds=cfg.imap.poll_seconds if cfg.imap else 30,
    )


# -- commands ------------------------------------------------------------------------------------


def cmd_run(cfg: Config, args: argparse.Namespace) -> int:
    from .daemon import install_signal_handlers, run_forever, run_without_mailbox
    from .health import after_pass
    from .wiring import build_app, open_store

    _warn_holidays(cfg)
    _warn_sender_check(cfg)
    logger.info(
        "cspr-mailbot %s starting: config %s; reading %s; sending by %s",
        __version__,
        cfg.source_path or "(built-in default)",
        mail_source(cfg),
        sending_path(cfg),
    )
    health = make_health(cfg)
    with open_store(cfg, check_mailbox=False) as store:  # the App asks over its own connection
        app = build_app(cfg, store)
        _started()
        source = app.source
        assert source is not None  # built with one
        if args.once:
            now = parse_now(args.now)
            mailbox_error: MailSourceError | None = None
            try:
                try:
                    source.connect()
                    report = app.run_once(now)
                except MailSourceError as exc:
                    # Nothing is lost: the mail stays in the inbox. The schedule still runs.
                    mailbox_error = exc
                    report = run_without_mailbox(app, now)
                after_pass(app, health, now, report, mailbox_error)  # may use the mailbox
            finally:
                source.close()
            if mailbox_error is not None:
                logger.error("%s: %s", type(mailbox_error).__name__, mailbox_error)
            print(
                f"processed {report.processed}, duplicates {report.duplicates}, failed {report.failed}, "
                f"new cases {len(report.cases_created)}, sent {report.sent}, "
                f"not sent {report.send_failures}{', digest queued' if report.digest_sent else ''}"
            )
            for ref in report.cases_created:
                print(ref)
            # 1 while something waits to be retried; a permanent refusal is recorded on its case.
            failed = mailbox_error is not None or report.send_failures > report.undeliverable
            return 1 if failed else 0
        if args.now:
            raise UsageError("--now goes with --once")
        stop = threading.Event()
        install_signal_handlers(stop)
        poll = cfg.imap.poll_seconds if cfg.imap else 30
        run_forever(app, stop, poll_seconds=poll, health=health)
        return 0


def cmd_status(cfg: Config, args: argparse.Namespace) -> int:
    from .health import read_status, status_json, status_report

    status = read_status(cfg.status_file)
    now = datetime.now(tz=UTC)
    if args.json:
        data = status_json(status, now)
        print(json.dumps(data, indent=2, sort_keys=True))
        return 1 if data["stale"] or status is None else 0
    code, text = status_report(status, cfg.status_file, now)
    print(text)
    return code


def cmd_doctor(cfg: Config, args: argparse.Namespace) -> int:
    from .doctor import run_doctor

    return run_doctor(cfg, send_test=args.send_test)


def cmd_cases(cfg: Config, args: argparse.Namespace) -> int:
    from .core.deadlines import next_deadline
    from .core.workdays import WorkingCalendar, format_date
    from .wiring import open_store

    with open_store(cfg) as store:
        rows = store.cases(include_closed=args.all)
        refused: dict[str | None, list[OutboxRecord]] = {}
        for record in store.outbox_undelivered():
            refused.setdefault(record.case_reference, []).append(record)
    if args.json:
        out = [case_json(r, cfg, refused.get(r.reference, ())) for r in rows]
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    cal = WorkingCalendar(cfg.closures, cfg.cutoff)
    print(f"{'REFERENCE':<16} {'STATUS':<18} {'RECEIVED':<16} NEXT DEADLINE")
    for case in rows:
        nd = next_deadline(case, cal, cfg.timescales)
        shown = f"{nd[0]}: {format_date(nd[1])}" if nd else "-"
        print(f"{case.reference:<16} {case.status:<18} {format_date(case.received_on):<16} {shown}")
    if not rows:
        print("(no cases)")
    return 0


def cmd_case(cfg: Config, args: argparse.Namespace) -> int:
    from .wiring import open_store

    with open_store(cfg) as store:
        case = store.get_case(args.reference.upper())
        refused = store.outbox_undelivered(case.reference) if case is not None else []
    if case is None:
        print(f"cspr-mailbot: no case {args.reference}", file=sys.stderr)
        return 1
    out = case_json(case, cfg, refused)
    if args.json:
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 0
    print(_case_text(out))
    return 0


def _case_text(out: dict[str, Any]) -> str:
    """A case for a person: London times, dates written like Mon 4 Jan 2027 (SPEC 2)."""
    from .core.workdays import LONDON, format_date

    def day(value: str | None) -> str:
        return format_date(date.fromisoformat(value)) if value else "-"

    def when(value: str) -> str:
        at = datetime.fromisoformat(value).astimezone(LONDON)
        return f"{format_date(at.date())} {at:%H:%M}"

    provisional = out["deadlines_provisional"]
    lines = [
        f"{out['reference']}  {out['status'].replace('_', ' ')}  received {when(out['received_at'])}",
        f"criteria {out['criteria']['result'].replace('_', ' ')}: "
        + "; ".join(out["criteria"]["reasons"]),
    ]
    for name, label in (
        ("sin", "SIN"),
        ("rapid_review", "Rapid Review decision"),
        ("review", "Review"),
    ):
        mark = " (provisional)" if provisional.get(name) else ""
        lines.append(f"{label} due: {day(out['deadlines'][name])}{mark}")
    lines += [f"triage: {reason}" for reason in out["triage_reasons"]]
    for a in out["agencies"]:
        lines.append(
            f"agency {a['name']} <{a['email'] or 'no address'}>: requested {day(a['requested_on'])}, "
            f"due {day(a['due'])}, returned {day(a['returned_on'])}, chasers {a['chasers_sent']}"
        )
    lines += [
        f"UNDELIVERED {u['subject']} to {', '.join(u['to'])}, refused {when(u['refused_at'])}: "
        f"{u['reason']} (cspr-mailbot resend {out['reference']} sends it again)"
        for u in out["undelivered"]
    ]
    lines += [f"{when(e['at'])}  {e['kind']}  {e['detail']}" for e in out["events"]]
    return "\n".join(lines)


def cmd_digest(cfg: Config, args: argparse.Namespace) -> int:
    from .app import PassReport
    from .wiring import build_app, open_store

    now = parse_now(args.now)
    with open_store(cfg) as store:
        app = build_app(cfg, store, with_source=False)
        if args.send:
            report = PassReport()
            app.maybe_send_digest(now, report, force=True)
            app.flush_outbox(now, report)
            print(
                f"digest sent to {len(cfg.digest_to)} recipient(s)"
                if report.sent
                else "digest queued, not sent"
            )
            return 0 if report.sent else 1
        om = app.digest_message(now)
        print(
            app.renderer.env.get_template("digest.txt").render(
                {**om.context, "subject": om.subject, "partnership": cfg.partnership.name}
            )
        )
    return 0


def cmd_command(cfg: Config, args: argparse.Namespace) -> int:
    from .wiring import build_app, open_store

    now = parse_now(args.now)
    text = "\n".join(args.text)
    with open_store(cfg) as store:
        app = build_app(cfg, store, with_source=False)
        ok, message = app.command(args.reference, text, now)
        print(message)
        if ok:
            app.flush_outbox(now)
    return 0 if ok else 2


def cmd_resend(cfg: Config, args: argparse.Namespace) -> int:
    """``resend REF|all`` (SPEC 8): 0 when everything queued again was taken by the server."""
    from .wiring import build_app, open_store

    now = parse_now(args.now)
    reference = None if args.reference.lower() == "all" else args.reference.upper()
    with open_store(cfg) as store:
        if reference is not None and store.get_case(reference) is None:
            print(f"cspr-mailbot: no case {args.reference}", file=sys.stderr)
            return 1
        app = build_app(cfg, store, with_source=False)
        keys, report = app.resend(reference, now)
        still = {r.key for r in store.outbox_undelivered(reference)}
        waiting = {r.key for r in store.outbox_pending()}
    where = reference or "any case"
    if not keys:
        print(f"nothing refused for good on {where}")
        return 0
    for key in keys:
        state = (
            "refused again" if key in still else "waiting to retry" if key in waiting else "sent"
        )
        print(f"{key}: {state}")
    print(f"resent {len(keys)} message(s) on {where}: {report.sent} taken by the server")
    return 0 if not (still | waiting) & set(keys) else 1


def cmd_export(cfg: Config, args: argparse.Namespace) -> int:
    from .dataprotection import export_case
    from .wiring import mail_source, open_store, token_source

    folder = Path(args.output)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(f"export: {folder} must be a new or empty folder")
    source = mail_source(cfg, token_source(cfg))
    with open_store(cfg) as store:
        source.connect()
        try:
            report = export_case(
                cfg, store, source, args.reference.upper(), folder, case_json, datetime.now(UTC)
            )
        finally:
            source.close()
    if report is None:
        print(f"cspr-mailbot: no case {args.reference}", file=sys.stderr)
        return 1
    print(f"{args.reference.upper()}: {report.received} received, {report.sent} sent, in {folder}")
    for line in report.missing:
        print(f"  not found: {line}")
    return 0


def cmd_backup(cfg: Config, args: argparse.Namespace) -> int:
    from .wiring import open_store

    with open_store(cfg) as store:
        target = store.backup(Path(args.output))
    print(f"backup written: {target} (and {target.name}.journal); restore by copying both back")
    return 0


def cmd_purge(cfg: Config, args: argparse.Namespace) -> int:
    from .core.workdays import LONDON, format_date
    from .dataprotection import purge, purge_list
    from .wiring import open_store

    if cfg.retention_years <= 0:
        print("[retention] closed_case_years is 0: every case is kept, nothing to purge")
        return 0
    today = parse_now(args.now).astimezone(LONDON).date()
    with open_store(cfg) as store:
        items = purge(cfg, store, today) if args.apply else purge_list(cfg, store, today)
    verb = "purged" if args.apply else "past retention"
    for item in items:
        print(
            f"{item.reference}  closed {format_date(item.closed_on)}  "
            f"retention ended {format_date(item.retention_ended)}  {verb}"
        )
    if not items:
        print("nothing is past retention")
    elif not args.apply:
        print(f"{len(items)} case(s); run with --apply to remove them")
    return 0


def cmd_report(cfg: Config, args: argparse.Namespace) -> int:
    from .core.report import report_csv, report_text, timeliness
    from .core.workdays import LONDON, WorkingCalendar
    from .wiring import open_store

    start, end = parse_day("--from", args.start), parse_day("--to", args.end)
    if end < start:
        raise UsageError("--to is before --from")
    with open_store(cfg) as store:
        cases = store.cases(include_closed=True)
    cal = WorkingCalendar(cfg.closures, cfg.cutoff)
    today = parse_now(None).astimezone(LONDON).date()  # what is not due by today is not counted
    rep = timeliness(cases, start, end, cal, cfg.timescales, today=today)
    print(report_csv(rep) if args.csv else report_text(rep), end="")
    return 0


def cmd_pack(cfg: Config, args: argparse.Namespace) -> int:
    """``pack REF -o FILE``: the pack the bot would send now (SPEC 6a), written to a file."""
    from .adapters.files import write_named
    from .adapters.packdoc import pack_docx
    from .core.pack import pack_for
    from .core.workdays import LONDON, WorkingCalendar
    from .wiring import open_store

    today = parse_now(args.now).astimezone(LONDON).date()
    with open_store(cfg) as store:
        case = store.get_case(args.reference.upper())
    if case is None:
        print(f"cspr-mailbot: no case {args.reference}", file=sys.stderr)
        return 1
    cal = WorkingCalendar(cfg.closures, cfg.cutoff)
    pack = pack_for(case, cal, cfg.timescales, today=today, partnership=cfg.partnership.name)
    data_out = pack_docx(pack, marking=cfg.partnership.subject_marking)
    out = Path(args.output)
    try:
        write_named(out, data_out)  # it names the child: the owner's alone, as the store is
    except OSError as exc:
        print(f"cspr-mailbot: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return 1
    print(
        f"wrote {out} ({len(data_out)} bytes): {len(pack.returns)} return(s), "
        f"{len(pack.outstanding)} not returned, {len(pack.chronology)} chronology entries"
    )
    return 0


def cmd_check_config(cfg: Config, args: argparse.Namespace) -> int:
    _warn_holidays(cfg)
    _warn_sender_check(cfg)
    source, sending = mail_source(cfg), sending_path(cfg)
    print(f"config OK: {cfg.source_path or '(built-in default)'}")
    print(f"  mailbox {cfg.partnership.mailbox}; reading {source}; sending {sending}")
    print(
        f"  store {cfg.store_path}; {len(cfg.partnership.coordinators)} coordinator(s); "
        f"{len(cfg.agencies)} agencies in the directory"
    )
    return 0


def cmd_forms(cfg: Config, args: argparse.Namespace) -> int:
    from . import formgen

    own = cfg.forms.referral if args.which == "referral" else cfg.forms.scoping
    if own is not None:
        try:
            data = own.read_bytes()
        except OSError as exc:
            print(f"cspr-mailbot: cannot read {own}: {exc.strerror}", file=sys.stderr)
            return 1
    else:
        make = formgen.blank_referral if args.which == "referral" else formgen.blank_scoping
        data = make(cfg.partnership.name, cfg.partnership.subject_marking)
    out = Path(args.output)
    try:
        out.write_bytes(data)
    except OSError as exc:
        print(f"cspr-mailbot: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"wrote {out} ({len(data)} bytes)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line. ``argv`` None: this is the program itself (the ``cspr-mailbot`` script,
    ``python -m cspr_mailbot``), which ends when main returns; a list: a call from within a process
    that goes on (the tests)."""
    global _starting
    if argv is None:
        # The program starts: no collections while the modules load (see _started).
        _starting = True
        gc.disable()
    try:
        return _main(argv)
    finally:
        if argv is None:
            _started()
            _leaving()


_starting = False  # the program is loading what its command needs, the collector paused


def _started() -> None:
    """The program has loaded what its command keeps for its life: collect from here on.

    Importing the package and its libraries makes some 40,000 objects (modules, classes,
    functions) that live until the process ends; the collector, running every 700 new objects,
    walked them over and over while they came (~80 collections, 15-20 ms of a run on an empty
    INBOX), and every later full collection of the pass walked them again (50-80 ms of GC in a
    pass of 150 referrals, ~15 ms once they are frozen). So ``main`` pauses the collector while
    the program starts, and here what has been made so far goes to the permanent generation
    (``gc.freeze()``), which collections skip, and collection resumes. What is frozen is still
    freed by reference counting; only cycles among it (a few, made once at start-up) are kept until
    the process ends. ``run`` calls this once its app is built; every other command before it
    starts. A call of ``main`` from a process that goes on (the tests) never pauses the collector.
    """
    global _starting
    if _starting:
        _starting = False
        gc.freeze()
        gc.enable()


def _leaving() -> None:
    """The process ends now: spare the interpreter its last walks over every object.

    On its way out the interpreter runs full garbage collections over everything still alive:
    the ~40,000 objects the package's modules, classes and functions are made of (measured at
    40-80 ms of CPU after ``run --once``, some 15% of a run on an empty INBOX). ``gc.freeze()``
    moves what is alive to the permanent generation, which those collections skip; every object
    is still freed with its modules, and nothing of ours waits on a collection to be written:
    the store, the status file and the .eml files are written, synced and closed before main
    returns, logging is flushed by its own exit handler, and standard output by the interpreter.
    """
    gc.freeze()


def _main(argv: list[str] | None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    logging.basicConfig(
        level=getattr(logging, args.log_level or ("WARNING" if args.cmd == "demo" else "INFO")),
        # Under systemd the journal stamps each line itself: no second timestamp of our own.
        format=("" if os.environ.get("JOURNAL_STREAM") else "%(asctime)s ")
        + "%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # mail-parser logs at WARNING about MIME it does not handle; we record defects ourselves.
    logging.getLogger("mailparser").setLevel(logging.ERROR)
    try:
        if args.cmd == "demo":
            from .demo import run_demo

            _started()
            return run_demo(Path(args.dir))
        cfg = resolve_config(args.config)
        if cfg.log_level and not args.log_level:
            logging.getLogger().setLevel(cfg.log_level)
        handler = {
            "run": cmd_run,
            "cases": cmd_cases,
            "case": cmd_case,
            "digest": cmd_digest,
            "command": cmd_command,
            "check-config": cmd_check_config,
            "report": cmd_report,
            "forms": cmd_forms,
            "resend": cmd_resend,
            "export": cmd_export,
            "backup": cmd_backup,
            "purge": cmd_purge,
            "status": cmd_status,
            "doctor": cmd_doctor,
            "pack": cmd_pack,
        }[args.cmd]
        if handler is not cmd_run:
            _started()  # run: once its app is built
        return handler(cfg, args)
    except ConfigError as exc:
        print(f"cspr-mailbot: {exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"cspr-mailbot: {exc}", file=sys.stderr)
        return 2
    except StoreDamaged as exc:  # SPEC 10: never start afresh on a store that lost what it held
        logger.error("the store is damaged: %s", exc.path)
        print(f"cspr-mailbot: refusing to start: {exc}", file=sys.stderr)
        return 1
    except MailbotError as exc:
        logger.error("%s: %s", type(exc).__name__, exc)
        return 1
    except KeyboardInterrupt:
        return 130
