"""The web config file: TLS and basic auth, in the format Prometheus's exporters share.

The same file works for node_exporter and pagerkit (``tls_server_config``,
``basic_auth_users`` with bcrypt hashes), so existing scrape configs need no change.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from .validation import ParseContext, validate
from .yamlfile import load_yaml

# RequestClientCert and RequireAnyClientCert ask for a certificate without checking it;
# Python's ssl module cannot accept an unverified certificate, so both verify it.
_VERIFY_MODES = {
    "NoClientCert": ssl.CERT_NONE,
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}


@dataclass(frozen=True)
class TLSSettings:
    cert_file: Path
    key_file: Path
    verify_mode: ssl.VerifyMode
    client_ca_file: Path | None
    min_version: ssl.TLSVersion
    max_version: ssl.TLSVersion | None


@dataclass(frozen=True)
class WebConfig:
    path: str
    tls: TLSSettings | None
    basic_auth_users: tuple[tuple[str, bytes], ...]
    headers: tuple[tuple[str, str], ...]


def load_web_config(path: Path) -> WebConfig:
    """Parse and check a web config file; every referenced file must be readable."""
    doc = load_yaml(path)
    validate(doc, "webconfig.schema.json", doc.data)
    raw = doc.data or {}
    ctx = ParseContext(doc, ())
    tls = _tls_settings(ctx, raw["tls_server_config"]) if "tls_server_config" in raw else None
    users = tuple(sorted((name, hashed.encode())
                         for name, hashed in (raw.get("basic_auth_users") or {}).items()))
    headers = tuple(sorted((raw.get("http_server_config") or {}).get("headers", {}).items()))
    return WebConfig(doc.path, tls, users, headers)


def _tls_settings(ctx: ParseContext, raw: dict[str, str]) -> TLSSettings:
    sub = ParseContext(ctx.doc, ("tls_server_config",), ctx.environ)
    auth_type = raw.get("client_auth_type", "NoClientCert")
    mode = _VERIFY_MODES[auth_type]
    if mode != ssl.CERT_NONE and "client_ca_file" not in raw:
        raise sub.error(("client_auth_type",), f"client_auth_type {auth_type} needs "
                                               "client_ca_file, the CA that signs client "
                                               "certificates")
    files = {name: sub.path(raw, name) for name in ("cert_file", "key_file", "client_ca_file")
             if name in raw}
    for name, file in files.items():
        if not file.is_file():
            raise sub.error((name,), f"tls_server_config.{name}: {file} does not exist or is "
                                     "not a file")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(files["cert_file"], files["key_file"])
    except (ssl.SSLError, OSError) as exc:
        raise sub.error(("cert_file",), f"cannot load the certificate and key: {exc}; check "
                                        "that key_file is the key of cert_file, in PEM") from None
    return TLSSettings(files["cert_file"], files["key_file"], mode, files.get("client_ca_file"),
                       _TLS_VERSIONS[raw.get("min_version", "TLS12")],
                       _TLS_VERSIONS.get(raw.get("max_version", "")))


def listen_address_of(text: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port``, or ``:port`` for every address) as a bind pair."""
    host, _, port = text.rpartition(":")
    return host.strip("[]") or "0.0.0.0", int(port)
