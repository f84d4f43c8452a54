"""Stand-ins for services the tests cannot run: a Bearer token service."""

import json
import time
from pathlib import Path
from typing import Optional

from .servers import LoopbackServer, QuietHandler


class TokenServer(LoopbackServer):
    """A Docker token service (Bearer auth) for a distribution registry in token mode.

    Checks Basic credentials, grants every requested action to a valid user, and
    signs RS256 JWTs whose ``x5c`` header carries a self-signed certificate
    that the registry trusts through ``rootcertbundle``.
    """

    SERVICE = "acrtasks-test-registry"
    ISSUER = "acrtasks-test-tokens"

    def __init__(self, users: dict, directory: Path):
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.users = users
        self.refresh_tokens: dict = {}  # identity (refresh) token -> user, for token logins
        self.requests_seen: list = []
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "acrtasks test token signer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(hours=1))
                     .not_valid_after(now + datetime.timedelta(days=2))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(self.key, hashes.SHA256()))
        directory.mkdir(parents=True, exist_ok=True)
        self.bundle = directory / "token-signer.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        self._der = self.cert.public_bytes(serialization.Encoding.DER)
        super().__init__()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def registry_auth(self) -> dict:
        return {"token": {"realm": self.realm, "service": self.SERVICE, "issuer": self.ISSUER,
                          "rootcertbundle": str(self.bundle)}}

    def _sign(self, claims: dict) -> str:
        import base64

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self._der).decode()]}
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64(signature)}"

    def token_for(self, authorization: Optional[str], scopes: list, user: str = "") -> Optional[str]:
        import base64
        import secrets

        if authorization and not user:
            if not authorization.startswith("Basic "):
                return None
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
            if self.users.get(user) != password:
                return None
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            if kind == "repository" and user:
                access.append({"type": "repository", "name": name, "actions": actions.split(",")})
        now = int(time.time())
        return self._sign({"iss": self.ISSUER, "sub": user, "aud": self.SERVICE, "exp": now + 600, "nbf": now - 10,
                           "iat": now, "jti": secrets.token_hex(8), "access": access})

    def handler_class(self):
        from urllib.parse import parse_qs, urlparse

        outer = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.0"  # answers end with the connection, as before

            def do_POST(self):
                """OAuth2 refresh-token grant, as docker uses an ``identitytoken``."""
                form = parse_qs(self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode())
                outer.requests_seen.append({"POST": form})
                user = outer.refresh_tokens.get((form.get("refresh_token") or [""])[0])
                token = None
                if user and form.get("grant_type") == ["refresh_token"]:
                    token = outer.token_for(None, " ".join(form.get("scope", [])).split(), user=user)
                self._answer(token)

            def do_GET(self):
                query = parse_qs(urlparse(self.path).query)
                outer.requests_seen.append(query)
                self._answer(outer.token_for(self.headers.get("Authorization"), query.get("scope", [])))

            def _answer(self, token):
                if token is None:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.dumps({"token": token, "access_token": token, "expires_in": 600}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler
