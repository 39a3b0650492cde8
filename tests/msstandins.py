"""Offline stand-ins for Microsoft's side of Exchange Online, on 127.0.0.1 over TLS.

- ``FakeEntra``: the sign-in service MSAL talks to: the OpenID discovery document and the
  client-credentials token route (a client secret, or a certificate's signed assertion). Its access
  tokens are JWTs signed HS256 with ``key``: Dovecot (``DovecotServer(oauth2_key=key)``) and the
  XOAUTH2 SMTP server (``token_checker(key, ...)``) check them as Exchange would.
- ``FakeGraph``: ``POST /v1.0/users/{mailbox}/sendMail``: checks the bearer token and keeps the
  MIME message posted (base64, ``text/plain``); ``script`` queues answers such as a 429.

The certificate is self-signed for IP:127.0.0.1 (MSAL refuses ``http://``); ``cafile`` is the file
to trust. Nothing here reaches the internet. Each server counts what it was asked, for the tests.
"""

from __future__ import annotations

import base64
import email
import email.policy
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import jwt
import pytest
from e2e import PASSWORD_ENV, Bot, serving, smtp_toml, write_config
from servers import BOT_USER, Certificate, DovecotServer, SmtpServer, make_certificate

OUTLOOK = "https://outlook.office365.com"
GRAPH = "https://graph.microsoft.com"
TENANT = "cspr-test.onmicrosoft.com"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
CLIENT_SECRET = "entra-secret-value-1"


def make_jwt(key: bytes, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, key, algorithm="HS256")


def check_jwt(key: bytes, token: str, audience: str) -> dict[str, Any] | None:
    """The claims of a token we issued for ``audience`` and still valid; None otherwise."""
    try:
        return dict(jwt.decode(token, key, algorithms=["HS256"], audience=audience))
    except jwt.PyJWTError:
        return None


def token_checker(key: bytes, audience: str = OUTLOOK) -> Callable[[str, str], bool]:
    """For ``SmtpServer(xoauth2=...)``: the token is ours, for Outlook, and names ``user``."""

    def check(user: str, token: str) -> bool:
        claims = check_jwt(key, token, audience)
        return claims is not None and claims.get("email", "").lower() == user.lower()

    return check


class _TlsServer:
    """A threading HTTPS server on 127.0.0.1 whose handler calls ``self.route``."""

    def __init__(self, cert: Certificate) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet tests
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                self._answer("GET", b"")

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                self._answer("POST", self.rfile.read(length))

            def _answer(self, method: str, body: bytes) -> None:
                status, headers, payload = outer.route(method, self.path, dict(self.headers), body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.cert = cert
        self.cafile = str(cert.cert)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.socket = cert.server_context().wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def route(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class TokenRequest:
    scope: str
    at: float
    granted: bool


class FakeEntra(_TlsServer):
    """Microsoft Entra's v2.0 endpoints for one tenant and one confidential client.

    ``secret``: the client secret it takes; ``certificate``: a ``servers.Certificate`` whose signed
    assertion it takes instead (checked with its public key and SHA-1 thumbprint). ``fail_with``:
    answer every token request with this status (a 5xx outage, say). ``expires_in``: tokens' life.
    """

    def __init__(
        self,
        cert: Certificate,
        key: bytes,
        *,
        mailbox: str,
        secret: str = CLIENT_SECRET,
        certificate: Certificate | None = None,
        expires_in: int = 3600,
    ) -> None:
        super().__init__(cert)
        self.key = key
        self.mailbox = mailbox
        self.secret = secret
        self.certificate = certificate
        self.expires_in = expires_in
        self.fail_with: int | None = None
        self.requests: list[TokenRequest] = []
        self.discoveries = 0

    @property
    def authority(self) -> str:
        return self.url

    def granted(self, scope: str | None = None) -> int:
        """How many tokens were issued (for ``scope``, or all)."""
        with self.lock:
            return sum(1 for r in self.requests if r.granted and scope in (None, r.scope))

    def route(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        parts = urlparse(path).path.strip("/").split("/")
        tenant = parts[0] if parts else ""
        if tenant != TENANT:
            return 400, {}, _aad_error("invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        base = f"{self.url}/{TENANT}"
        if method == "GET" and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            with self.lock:
                self.discoveries += 1
            return (
                200,
                {},
                {
                    "issuer": f"{base}/v2.0",
                    "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                    "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                    "jwks_uri": f"{base}/discovery/v2.0/keys",
                    "response_types_supported": ["code", "token"],
                    "subject_types_supported": ["pairwise"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "token_endpoint_auth_methods_supported": [
                        "client_secret_post",
                        "private_key_jwt",
                    ],
                },
            )
        if method == "POST" and parts[1:] == ["oauth2", "v2.0", "token"]:
            return self._token(base, parse_qs(body.decode()))
        return 404, {}, {"error": "not_found"}

    def _token(self, base: str, form: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
        def one(name: str) -> str:
            return (form.get(name) or [""])[0]

        scope = one("scope").split()[0] if one("scope") else ""
        if self.fail_with is not None:
            with self.lock:
                self.requests.append(TokenRequest(scope, time.time(), False))
            return self.fail_with, {}, b"<html>Service Unavailable</html>"
        refusal = self._check_client(one, base)
        with self.lock:
            self.requests.append(TokenRequest(scope, time.time(), refusal is None))
        if refusal is not None:
            return 401, {}, refusal
        if one("grant_type") != "client_credentials":
            return 400, {}, _aad_error("unsupported_grant_type", 70003, "Unsupported grant.")
        audience = scope.removesuffix("/.default")
        if audience not in (OUTLOOK, GRAPH):
            return 400, {}, _aad_error("invalid_scope", 70011, f"The scope '{scope}' is not valid.")
        now = int(time.time())
        claims = {
            "aud": audience,
            "iss": f"{base}/v2.0",
            "sub": CLIENT_ID,
            "appid": CLIENT_ID,
            "email": self.mailbox,  # Dovecot's username_attribute; Exchange uses the app's rights
            "roles": ["IMAP.AccessAsApp", "SMTP.SendAsApp", "Mail.Send"],
            "iat": now,
            "nbf": now - 5,
            "exp": now + self.expires_in,
            "uti": uuid.uuid4().hex,
            "xms_pad": "p" * 900,  # real Entra tokens run to 1-2 KB: past aiosmtpd's 512-byte line
        }
        return (
            200,
            {},
            {
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "ext_expires_in": self.expires_in,
                "access_token": make_jwt(self.key, claims),
            },
        )

    def _check_client(self, one: Callable[[str], str], base: str) -> dict[str, Any] | None:
        if one("client_id") != CLIENT_ID:
            return _aad_error(
                "unauthorized_client",
                700016,
                f"Application with identifier '{one('client_id')}' was not found in the directory.",
            )
        if one("client_assertion"):
            return self._check_assertion(one("client_assertion"), f"{base}/oauth2/v2.0/token")
        if one("client_secret") != self.secret or self.certificate is not None:
            return _aad_error(
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                "the client secret value, not the client secret ID.",
            )
        return None

    def _check_assertion(self, assertion: str, audience: str) -> dict[str, Any] | None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        refused = _aad_error(
            "invalid_client", 700027, "Client assertion failed signature validation."
        )
        if self.certificate is None:
            return refused
        cert = x509.load_pem_x509_certificate(Path(self.certificate.cert).read_bytes())
        x5t = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).decode().rstrip("=")
        try:
            header = jwt.get_unverified_header(assertion)
            jwt.decode(
                assertion, cert.public_key(), algorithms=["RS256", "PS256"], audience=audience
            )  # type: ignore[arg-type]
        except jwt.PyJWTError:
            return refused
        if str(header.get("x5t", "")).rstrip("=") != x5t:
            return _aad_error(
                "invalid_client",
                700027,
                "The certificate with identifier used to sign the "
                "client assertion is not registered on application.",
            )
        return None


def _aad_error(error: str, code: int, text: str) -> dict[str, Any]:
    return {
        "error": error,
        "error_description": f"AADSTS{code}: {text} Trace ID: 0 Correlation ID: 0",
        "error_codes": [code],
        "timestamp": time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime()),
    }


@dataclass
class Posted:
    """One sendMail request Graph took: the MIME message as posted."""

    mailbox: str
    raw: bytes
    message: EmailMessage
    at: float


@dataclass
class _Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


class FakeGraph(_TlsServer):
    """Microsoft Graph's sendMail for one mailbox; ``script`` answers the next requests in turn."""

    def __init__(self, cert: Certificate, key: bytes, *, mailbox: str) -> None:
        super().__init__(cert)
        self.key = key
        self.mailbox = mailbox
        self.script: list[_Answer] = []
        self.sent: list[Posted] = []
        self.attempts: list[tuple[float, int]] = []  # (time, status answered)
        self.revoked_before = 0.0  # tokens issued (iat) before this are refused with 401
        self._seen: set[str] = set()
        self._revoked: set[str] = set()

    def answer_next(self, status: int, **headers: str) -> None:
        with self.lock:
            self.script.append(_Answer(status, dict(headers)))

    def revoke_tokens(self) -> None:
        """Refuse every token used so far (as after a secret rotation or a consent change)."""
        with self.lock:
            self._revoked |= self._seen

    def route(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        status, out_headers, payload = self._route(method, path, headers, body)
        with self.lock:
            self.attempts.append((time.time(), status))
        return status, out_headers, payload

    def _route(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], Any]:
        parts = unquote(urlparse(path).path).strip("/").split("/")
        if (
            method != "POST"
            or len(parts) != 4
            or parts[:2] != ["v1.0", "users"]
            or parts[3] != "sendMail"
        ):
            return 404, {}, _graph_error("ResourceNotFound", "Resource not found.")
        auth = {k.lower(): v for k, v in headers.items()}.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        claims = check_jwt(self.key, token, GRAPH)
        with self.lock:
            self._seen.add(token)
            revoked = token in self._revoked
        if claims is None or revoked or claims.get("iat", 0) < self.revoked_before:
            return 401, {}, _graph_error("InvalidAuthenticationToken", "Access token is invalid.")
        with self.lock:
            scripted = self.script.pop(0) if self.script else None
        if scripted is not None:
            return (
                scripted.status,
                scripted.headers,
                _graph_error(
                    "ApplicationThrottled"
                    if scripted.status == 429
                    else "ErrorInternalServerError",
                    "Scripted answer.",
                ),
            )
        if parts[2].lower() != self.mailbox.lower():
            return (
                404,
                {},
                _graph_error("ErrorInvalidUser", f"The requested user '{parts[2]}' is invalid."),
            )
        ctype = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
        if not ctype.startswith("text/plain"):
            return (
                415,
                {},
                _graph_error("ErrorMimeContentInvalid", "Content-Type must be text/plain."),
            )
        try:
            raw = base64.b64decode(body, validate=True)
        except ValueError:
            return (
                400,
                {},
                _graph_error(
                    "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content."
                ),
            )
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.sent.append(Posted(parts[2], raw, message, time.time()))
        return 202, {}, b""


def _graph_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


@dataclass
class MicrosoftStandins:
    """One certificate, one signing key, Entra and Graph; ``close()`` stops both."""

    cert: Certificate
    key: bytes
    entra: FakeEntra
    graph: FakeGraph

    def close(self) -> None:
        self.entra.stop()
        self.graph.stop()


def start_standins(
    directory: Path, mailbox: str, key: bytes, **entra_options: Any
) -> MicrosoftStandins:
    cert = make_certificate(directory)
    entra = FakeEntra(cert, key, mailbox=mailbox, **entra_options)
    graph = FakeGraph(cert, key, mailbox=mailbox)
    entra.start()
    graph.start()
    return MicrosoftStandins(cert, key, entra, graph)


# -- fixtures and the bot's config for them ---------------------------------------------------------

KEY = b"cspr-test-hs256-key-0123456789abcdef"  # Entra signs with it; Dovecot and SMTP check with it
SECRET_ENV = "CSPR_TEST_OAUTH_SECRET"


@pytest.fixture(scope="session")
def oauth_dovecot_server() -> Iterator[DovecotServer]:
    """A second Dovecot for the session that also takes XOAUTH2 with tokens from ``FakeEntra``."""
    yield from serving(DovecotServer(oauth2_key=KEY))


@pytest.fixture
def oauth_dovecot(oauth_dovecot_server: DovecotServer) -> DovecotServer:
    oauth_dovecot_server.reset()
    return oauth_dovecot_server


@pytest.fixture
def ms(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MicrosoftStandins]:
    standins = start_standins(tmp_path_factory.mktemp("ms"), BOT_USER, KEY)
    try:
        yield standins
    finally:
        standins.close()


@dataclass
class OAuthBot(Bot):
    """``e2e.Bot`` with the client secret in the environment too (``secret``, or none)."""

    secret: str | None = CLIENT_SECRET

    def env(self) -> dict[str, str]:
        env = super().env()
        if self.secret is not None:
            env[SECRET_ENV] = self.secret
        return env


def oauth_toml(ms: MicrosoftStandins, *, credential: str = "") -> str:
    """The [oauth2] section for the stand-ins (a client secret from ``SECRET_ENV`` by default)."""
    return f"""\
[oauth2]
provider = "microsoft"
tenant = "{TENANT}"
client_id = "{CLIENT_ID}"
{credential or f'client_secret_env = "{SECRET_ENV}"'}
authority = "{ms.entra.url}"
graph_url = "{ms.graph.url}"
cafile = "{ms.cert.cert}"
"""


def make_oauth_bot(
    tmp_path: Path,
    dovecot: DovecotServer,
    smtp: SmtpServer | None,
    ms: MicrosoftStandins,
    *,
    transport: str = "smtp",
    extra_toml: str = "",
    imap_auth: str = "oauth2",
    security: str = 'sender_check = "none"',
) -> OAuthBot:
    """A config for IMAP XOAUTH2 and SMTP XOAUTH2 (``smtp``) or Graph (``transport="graph"``).

    ``security`` is the body of ``[security]``, as for ``e2e.make_bot``."""
    imap_secret = "" if imap_auth == "oauth2" else f'password_env = "{PASSWORD_ENV}"'
    if transport == "graph":
        sending = '[smtp]\ntransport = "graph"\n'
    else:
        assert smtp is not None
        sending = smtp_toml(smtp, f'username = "{BOT_USER}"', 'auth = "oauth2"')
    config = write_config(
        tmp_path,
        dovecot,
        f"{sending}\n{oauth_toml(ms)}",
        extra_toml,
        imap_auth=f'auth = "{imap_auth}"\n{imap_secret}',
        security=security,
    )
    return OAuthBot(tmp_path, config, dovecot, smtp)  # type: ignore[arg-type]
