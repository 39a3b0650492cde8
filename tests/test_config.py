"""The configuration: the example file is valid, and a bad file names the key (SPEC 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cspr_mailbot.cli import main
from cspr_mailbot.config import load_config, parse_config
from cspr_mailbot.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
BASE = {"partnership": {"mailbox": "dsppb@example.gov.uk", "coordinators": ["c@example.gov.uk"]}}


def test_example_config_loads_with_every_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSPR_IMAP_PASSWORD", "secret")
    monkeypatch.setenv("CSPR_SMTP_PASSWORD", "secret")
    cfg = load_config(ROOT / "config.example.toml")
    assert cfg.imap is not None and cfg.imap.password == "secret" and cfg.imap.port == 993
    assert cfg.smtp is not None and cfg.smtp.security == "starttls"
    assert cfg.folders.triage == "Needs triage"
    assert [a.name for a in cfg.agencies][:1] == ["West Midlands Police"]
    assert cfg.timescales.rapid_review_days == 15
    assert str(cfg.closures[0]) == "2026-12-29"


def test_defaults_are_the_embedded_maildir() -> None:
    cfg = parse_config(BASE, base=Path("/srv/cspr"))
    assert cfg.imap is None and cfg.smtp is None
    assert cfg.maildir == Path("/srv/cspr/store/maildir")
    assert cfg.store_path == Path("/srv/cspr/store/cspr.json")


def with_(**sections: object) -> dict[str, object]:
    data: dict[str, object] = {k: dict(v) for k, v in BASE.items()}
    for name, value in sections.items():
        if isinstance(value, dict) and isinstance(data.get(name), dict):
            data[name] = {**data[name], **value}  # type: ignore[dict-item]
        else:
            data[name] = value
    return data


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"partnership": {"coordinators": ["c@example.gov.uk"]}}, "partnership.mailbox"),
        (with_(partnership={"coordinators": []}), "partnership.coordinators"),
        (with_(partnership={"coordinators": ["not an address"]}), "partnership.coordinators"),
        (with_(partnership={"reference_prefix": "dspp-"}), "partnership.reference_prefix"),
        (
            with_(
                imap={
                    "host": "imap.example.org",
                    "username": "u",
                    "password": "p",
                    "security": "none",
                }
            ),
            "imap.security",
        ),
        (
            with_(
                imap={"host": "imap.example.org", "username": "u", "password": "p", "port": "993"}
            ),
            "imap.port",
        ),
        (
            with_(
                imap={"host": "imap.example.org", "username": "u", "password_env": "NO_SUCH_VAR_X"}
            ),
            "imap.password_env",
        ),
        (
            with_(
                imap={"host": "h.example.org", "username": "u", "password": "p"},
                maildir={"path": "x"},
            ),
            "maildir",
        ),
        (with_(calendar={"closures": ["29/12/2026"]}), "calendar.closures"),
        (with_(calendar={"cutoff": "5pm"}), "calendar.cutoff"),
        (with_(timescales={"sin_days": 0}), "timescales.sin_days"),
        (with_(timescales={"sin_dayz": 5}), "timescales.sin_dayz"),
        (with_(digest={"recipients": ["nobody"]}), "digest.recipients"),
        (with_(agencies=[{"email": "x@example.org"}]), "agencies[0].name"),
        (with_(labels={"child_name": ["kid"]}), "labels.child_name"),
        (with_(smtp={"host": "smtp.example.org", "username": "u"}), "smtp.password_env"),
        (with_(unknown={"a": 1}), "unknown"),
    ],
)
def test_bad_config_names_the_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    assert info.value.key == key


def test_security_none_is_allowed_on_loopback() -> None:
    cfg = parse_config(
        with_(
            imap={"host": "127.0.0.1", "username": "u", "password": "p", "security": "none"},
            security={"sender_check": "none"},
        )
    )
    assert cfg.imap is not None and cfg.imap.security == "none" and cfg.imap.port == 143


def test_inline_password_warns(caplog: pytest.LogCaptureFixture) -> None:
    parse_config(
        with_(
            imap={"host": "127.0.0.1", "username": "u", "password": "p", "security": "none"},
            security={"sender_check": "none"},
        )
    )
    assert any("imap.password" in r.getMessage() for r in caplog.records)


def test_password_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    cfg = parse_config(
        with_(
            imap={
                "host": "127.0.0.1",
                "username": "u",
                "password_file": str(tmp_path / "pw"),
                "security": "none",
            },
            security={"sender_check": "none"},
        )
    )
    assert cfg.imap is not None and cfg.imap.password == "s3cret"


def test_check_config_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[partnership]\nmailbox = "a@example.org"\ncoordinators = ["c@example.org"]\n')
    assert main(["-c", str(good), "check-config"]) == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[partnership]\nmailbox = "a@example.org"\ncoordinators = ["c@example.org"]\n[imap]\nport = 1\n'
    )
    assert main(["-c", str(bad), "check-config"]) == 2
    assert "imap.host" in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text("[partnership\n")
    assert main(["-c", str(broken), "check-config"]) == 2
    assert main(["-c", str(tmp_path / "missing.toml"), "check-config"]) == 2
    assert main(["no-such-command"]) == 2


# -- [security] (SPEC 3 "Trusting a sender", SPEC 9) ---------------------------------------------------

IMAP = {"host": "imap.example.org", "username": "u", "password": "p"}


def test_imap_without_a_sender_check_is_refused_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(with_(imap=IMAP))
    assert info.value.key == "security.sender_check"
    with pytest.raises(ConfigError) as info:
        parse_config(with_(imap=IMAP, security={"authserv_id": "mx.example.org"}))
    assert info.value.key == "security.sender_check"
    path = tmp_path / "config.toml"
    path.write_text(
        '[partnership]\nmailbox = "a@example.org"\ncoordinators = ["c@example.org"]\n'
        '[imap]\nhost = "imap.example.org"\nusername = "u"\npassword = "p"\n'
    )
    assert main(["-c", str(path), "check-config"]) == 2
    assert "security.sender_check" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("security", "key"),
    [
        ({"sender_check": "dmarc"}, "security.sender_check"),
        ({"sender_check": True}, "security.sender_check"),
        ({"sender_check": "authentication-results"}, "security.authserv_id"),
        (
            {"sender_check": "authentication-results", "authserv_id": "mx; dmarc=pass"},
            "security.authserv_id",
        ),
        ({"sender_check": "none", "trust_everyone": True}, "security.trust_everyone"),
    ],
)
def test_a_bad_security_section_names_the_key(security: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(with_(imap=IMAP, security=security))
    assert info.value.key == key


def test_each_sender_check_is_read() -> None:
    cfg = parse_config(with_(imap=IMAP, security={"sender_check": "exchange-internal"}))
    assert cfg.security.sender_check == "exchange-internal"
    cfg = parse_config(
        with_(
            imap=IMAP,
            security={"sender_check": "authentication-results", "authserv_id": "mx.example.gov.uk"},
        )
    )
    assert (cfg.security.sender_check, cfg.security.authserv_id) == (
        "authentication-results",
        "mx.example.gov.uk",
    )


def test_the_embedded_default_needs_no_security_section() -> None:
    cfg = parse_config(BASE)
    assert cfg.security.sender_check == "none"
    assert parse_config(with_(maildir={"path": "m"})).security.sender_check == "none"


def test_none_is_warned_at_every_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("X_NONE_PW", "p")
    path = tmp_path / "config.toml"
    text = (
        '[partnership]\nmailbox = "a@example.org"\ncoordinators = ["c@example.org"]\n'
        '[imap]\nhost = "127.0.0.1"\nsecurity = "none"\nusername = "u"\npassword_env = "X_NONE_PW"\n'
        '[security]\nsender_check = "none"\n'
    )
    path.write_text(text)
    for _ in range(2):
        caplog.clear()
        assert main(["-c", str(path), "check-config"]) == 0
        warned = [r for r in caplog.records if "sender_check is none" in r.getMessage()]
        assert len(warned) == 1 and warned[0].levelname == "WARNING"
    path.write_text(text.replace('sender_check = "none"', 'sender_check = "exchange-internal"'))
    caplog.clear()
    assert main(["-c", str(path), "check-config"]) == 0
    assert not [r for r in caplog.records if "sender_check" in r.getMessage()]


def test_max_message_bytes_defaults_to_35_mib_and_a_bad_value_names_the_key() -> None:
    assert parse_config(BASE).limits.max_message_bytes == 36700160
    assert (
        parse_config(with_(limits={"max_message_bytes": 2097152})).limits.max_message_bytes
        == 2097152
    )
    for bad in (0, 1000, "35MB", 2.5):
        with pytest.raises(ConfigError) as info:
            parse_config(with_(limits={"max_message_bytes": bad}))
        assert "limits.max_message_bytes" in str(info.value)
