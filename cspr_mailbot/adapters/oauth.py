"""OAuth2 access tokens for IMAP/SMTP XOAUTH2 and Microsoft Graph ([oauth2], SPEC 9 and 10).

``MsalTokenSource`` holds ONE MSAL ``ConfidentialClientApplication`` for the life of the process
(client credentials, app-only: a client secret or a certificate) and keeps each scope's token until
``RENEW_BEFORE`` its expiry by the injected clock, then fetches a new one: a daemon that runs for
weeks asks the sign-in service about once an hour, never once a pass, and never needs a restart.
``CommandTokenSource`` runs ``token_command`` and takes its stdout (the convention of mutt and isync
users, and a way to use any other identity provider).

Errors are ``TokenError``: ``key`` names the [oauth2] key to look at and ``retryable`` says whether
trying again later may help (the service down or throttling) or a person must change something (a
refused secret or certificate, an unknown tenant or application). Tokens are never logged.
"""

from __future__ import annotations

import logging
import ssl
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from ..config import OAuth2
from ..errors import MailbotError

logger = logging.getLogger(__name__)

OUTLOOK_SCOPE = "https://outlook.office365.com/.default"  # IMAP and SMTP XOAUTH2
GRAPH_SCOPE = "https://graph.microsoft.com/.default"  # Graph sendMail
RENEW_BEFORE = timedelta(minutes=5)  # a token this close to expiry is renewed, not used
COMMAND_TOKEN_LIFETIME = timedelta(minutes=10)  # a command's token is asked for again after this

# Entra's error codes (AADSTS...) that point at one key of [oauth2].
_CODE_KEYS = {
    "AADSTS90002": "oauth2.tenant",  # tenant not found
    "AADSTS900023": "oauth2.tenant",  # tenant id malformed
    "AADSTS700016": "oauth2.client_id",  # application not found in the directory
    "AADSTS7000215": None,  # invalid client secret: the credential's key
    "AADSTS7000222": None,  # the client secret has expired
    "AADSTS700027": None,  # the certificate's assertion was refused
    "AADSTS700023": None,
}


class TokenError(MailbotError):
    """No access token: ``key`` names the [oauth2] key to change; ``retryable`` if waiting may help."""

    def __init__(self, message: str, *, key: str, retryable: bool) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.retryable = retryable


class TokenSource(Protocol):
    """Where a sender or the mailbox gets a bearer token for a scope."""

    def token(self, scope: str) -> str:
        """A token for ``scope``, reused until near its expiry; raises ``TokenError``."""
        ...

    def renew(self, scope: str) -> str:
        """Forget the token for ``scope`` (the server refused it) and get a new one."""
        ...


def xoauth2(username: str, token: str) -> str:
    """The SASL XOAUTH2 initial response (before base64), as IMAP and SMTP servers expect it."""
    return f"user={username}\x01auth=Bearer {token}\x01\x01"


@dataclass
class _Held:
    token: str
    expires_at: datetime


def now_utc() -> datetime:
    return datetime.now(tz=UTC)


class _Cache:
    """Tokens per scope with their expiry by our clock; one lock, so one fetch at a time."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.held: dict[str, _Held] = {}
        self.fetches = 0  # tokens fetched from the service (for tests, doctor and the log)

    def get(self, scope: str) -> str | None:
        held = self.held.get(scope)
        if held is not None and held.expires_at - RENEW_BEFORE > self.clock():
            return held.token
        return None


class MsalTokenSource:
    """App-only tokens from Microsoft Entra through MSAL's confidential client."""

    def __init__(
        self,
        settings: OAuth2,
        *,
        clock: Callable[[], datetime] = now_utc,
        http_client: Any = None,
    ) -> None:
        self.settings = settings
        self._cache = _Cache(clock)
        self._http_client = http_client
        self._app: Any = None  # built on first use, then kept for the life of the process

    @property
    def fetches(self) -> int:
        return self._cache.fetches

    def token(self, scope: str) -> str:
        with self._cache.lock:
            return self._cache.get(scope) or self._fetch(scope)

    def renew(self, scope: str) -> str:
        with self._cache.lock:
            self._cache.held.pop(scope, None)
            return self._fetch(scope)

    # -- the client -------------------------------------------------------------------------------

    def _client(self) -> Any:
        if self._app is not None:
            return self._app
        import msal
        import requests

        s = self.settings
        authority = f"{s.authority}/{s.tenant}"
        credential: Any
        if s.certificate_file is not None:
            pem = Path(s.certificate_file).read_text(encoding="ascii")
            credential = {"private_key": pem, "thumbprint": s.certificate_thumbprint}
        else:
            credential = s.client_secret
        try:
            self._app = msal.ConfidentialClientApplication(
                s.client_id,
                client_credential=credential,
                authority=authority,
                # Our own tenant's authority, never looked up at login.microsoftonline.com: it may
                # be another cloud, or (in the tests) a stand-in on 127.0.0.1.
                instance_discovery=False,
                http_client=self._http_client or http_session(s.cafile, s.authority, s.timeout),
                timeout=s.timeout,
            )
        except (
            ValueError
        ) as exc:  # the OpenID discovery said no: the tenant (or authority) is wrong
            raise TokenError(
                f"the sign-in service {s.authority} does not know tenant {s.tenant!r}: "
                f"{_first_line(str(exc))}",
                key="oauth2.tenant",
                retryable=False,
            ) from None
        except (requests.RequestException, OSError, msal.exceptions.MsalServiceError) as exc:
            raise TokenError(
                f"the sign-in service {s.authority} cannot be reached: {_first_line(str(exc))}",
                key="oauth2.authority",
                retryable=True,
            ) from None
        except Exception as exc:  # a certificate MSAL cannot use, say
            raise TokenError(
                f"MSAL refused the settings: {type(exc).__name__}: {_first_line(str(exc))}",
                key=s.credential_key,
                retryable=False,
            ) from None
        return self._app

    def _fetch(self, scope: str) -> str:
        import msal
        import requests

        app = self._client()
        # Our clock decides when a token is old (so tests can run hours in seconds); MSAL's own
        # cache would hand back the old one, so it is emptied before asking.
        app.remove_tokens_for_client()
        now = self._cache.clock()
        try:
            result = app.acquire_token_for_client(scopes=[scope])
        except (requests.RequestException, OSError, msal.exceptions.MsalServiceError) as exc:
            raise TokenError(
                f"the sign-in service {self.settings.authority} cannot be reached: "
                f"{_first_line(str(exc))}",
                key="oauth2.authority",
                retryable=True,
            ) from None
        if "access_token" in result:
            self._cache.fetches += 1
            lifetime = timedelta(seconds=int(result.get("expires_in") or 3600))
            self._cache.held[scope] = _Held(result["access_token"], now + lifetime)
            logger.info("OAuth2 token for %s fetched, valid %d min", scope, lifetime.seconds // 60)
            return str(result["access_token"])
        raise self._refusal(result, scope)

    def _refusal(self, result: dict[str, Any], scope: str) -> TokenError:
        error = str(result.get("error") or "error")
        description = _first_line(str(result.get("error_description") or ""))
        codes = [f"AADSTS{c}" for c in result.get("error_codes") or ()]
        code = next((c for c in codes if c in _CODE_KEYS), None)
        if code is None:
            code = next((c for c in _CODE_KEYS if description.startswith(c + ":")), None)
        said = f"{error}: {description}" if description else error
        if error in ("temporarily_unavailable", "server_error", "throttled") or result.get(
            "error_description", ""
        ).startswith("AADSTS50196"):
            return TokenError(
                f"the sign-in service is busy, trying again later ({said})",
                key="oauth2.authority",
                retryable=True,
            )
        if code is not None:
            key = _CODE_KEYS[code] or self.settings.credential_key
        elif error in ("invalid_client", "unauthorized_client"):
            key = self.settings.credential_key
        elif error == "invalid_scope":
            key = "oauth2.client_id"
            said += f" (the application needs permission for {scope})"
        else:
            key = self.settings.credential_key
        what = (
            "the certificate was refused"
            if key == "oauth2.certificate_file"
            else "the client secret was refused"
            if key == self.settings.credential_key
            else "the sign-in service refused the request"
        )
        return TokenError(f"{what} by {self.settings.authority}: {said}", key=key, retryable=False)


class CommandTokenSource:
    """``provider = "command"``: ``token_command``'s stdout (first line) is the token."""

    def __init__(self, settings: OAuth2, *, clock: Callable[[], datetime] = now_utc) -> None:
        self.command = settings.token_command
        self.timeout = settings.timeout
        self._cache = _Cache(clock)

    @property
    def fetches(self) -> int:
        return self._cache.fetches

    def token(self, scope: str) -> str:
        with self._cache.lock:
            return self._cache.get(scope) or self._run(scope)

    def renew(self, scope: str) -> str:
        with self._cache.lock:
            self._cache.held.pop(scope, None)
            return self._run(scope)

    def _run(self, scope: str) -> str:
        key = "oauth2.token_command"
        try:
            proc = subprocess.run(
                ["/bin/sh", "-c", self.command],
                capture_output=True,
                text=True,
                timeout=self.timeout,
                env=None,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise TokenError(
                f"cannot run {self.command.split()[0]!r}: {exc}", key=key, retryable=True
            ) from None
        token = proc.stdout.strip().splitlines()[0].strip() if proc.stdout.strip() else ""
        if proc.returncode != 0 or not token:
            tail = _first_line(proc.stderr.strip()) or "no output"
            raise TokenError(
                f"the command exited {proc.returncode} with no token: {tail}",
                key=key,
                retryable=True,
            )
        self._cache.fetches += 1
        # A token from a command says nothing of its life: ask again after a while, and at once
        # when a server refuses it (``renew``).
        self._cache.held[scope] = _Held(
            token, self._cache.clock() + COMMAND_TOKEN_LIFETIME + RENEW_BEFORE
        )
        return token


def token_source(settings: OAuth2, *, clock: Callable[[], datetime] = now_utc) -> TokenSource:
    """The one token source of the process, for the [oauth2] provider."""
    if settings.provider == "command":
        return CommandTokenSource(settings, clock=clock)
    return MsalTokenSource(settings, clock=clock)


# -- HTTP ------------------------------------------------------------------------------------------


def ssl_context(cafile: Path | None) -> ssl.SSLContext:
    """The system's trusted CAs, and ``cafile`` besides when given."""
    context = ssl.create_default_context()
    if cafile is not None:
        context.load_verify_locations(cafile=str(cafile))
    return context


def http_session(cafile: Path | None, url: str, timeout: float) -> Any:
    """A requests session for one service: the system CAs plus ``cafile``, the environment's proxy.

    ``trust_env`` is off: with it, ``REQUESTS_CA_BUNDLE`` (set on many machines) replaces the CAs
    we give. The proxy (``https_proxy``, ``no_proxy``) is taken from the environment here instead.
    """
    import requests
    from requests.adapters import HTTPAdapter

    context = ssl_context(cafile)

    class _Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> Any:
            kwargs["ssl_context"] = context
            return super().init_poolmanager(*args, **kwargs)

        def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
            kwargs["ssl_context"] = context
            return super().proxy_manager_for(*args, **kwargs)

    import urllib.request  # http.client, email: only for Microsoft 365

    session = requests.Session()
    session.trust_env = False
    session.mount("https://", _Adapter())
    host = urlparse(url).hostname or ""
    if host and not urllib.request.proxy_bypass(host):
        session.proxies = {
            k: v for k, v in urllib.request.getproxies().items() if k in ("http", "https")
        }
    session.request = _with_timeout(session.request, timeout)  # type: ignore[method-assign]
    return session


def _with_timeout(request: Callable[..., Any], timeout: float) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", timeout)
        return request(*args, **kwargs)

    return call


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:300] if text.strip() else ""


def getter(tokens: TokenSource, scope: str) -> Callable[[bool], str]:
    """What ImapSource and SmtpSender call: a token for ``scope`` (True: renew it first)."""

    def get(renew: bool) -> str:
        return tokens.renew(scope) if renew else tokens.token(scope)

    return get
