"""A throwaway certificate authority for the TLS tests, made with the openssl command line.

`make_pki(folder)` writes, into one folder:

- ``ca.pem``: the CA's certificate (what clients trust: librdkafka's ``ssl.ca.location``, the Java client's
  PEM truststore, the broker's truststore for client certificates);
- ``broker.p12``: the broker's key and certificate (for 127.0.0.1 and localhost) as a PKCS#12 keystore;
- ``client.p12``: a client's key and certificate as a PKCS#12 keystore (librdkafka's and the Java client's
  ``ssl.keystore.location``), and the same as PEM (``client.pem``, ``client.key``);
- ``other-ca.pem``: the certificate of a second CA that signed nothing here (a wrong CA for a client).

Keystore passwords reach openssl through its environment (``-passout env:``), never its command line.
Keys are 2048-bit RSA and certificates last two days: the tests need them for minutes.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Pki:
    folder: Path
    keystore_password: str = field(repr=False)  # of both PKCS#12 files

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def other_ca(self) -> Path:
        return self.folder / "other-ca.pem"

    @property
    def broker_keystore(self) -> Path:
        return self.folder / "broker.p12"

    @property
    def client_keystore(self) -> Path:
        return self.folder / "client.p12"

    @property
    def client_cert(self) -> Path:
        return self.folder / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.folder / "client.key"


def _openssl(folder: Path, *args: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(["openssl", *args], cwd=folder, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} in {folder} failed ({done.returncode}): {done.stderr.strip()}")


def _ca(folder: Path, name: str, subject: str) -> None:
    _openssl(folder, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", subject,
             "-keyout", f"{name}.key", "-out", f"{name}.pem",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def _leaf(folder: Path, name: str, subject: str, extensions: str, password: str) -> None:
    """A key and a certificate signed by ca.pem, as PEM and as a PKCS#12 keystore holding the CA too."""
    (folder / f"{name}.ext").write_text(extensions)
    _openssl(folder, "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", f"{name}.key",
             "-out", f"{name}.csr")
    _openssl(folder, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-sha256", "-extfile", f"{name}.ext", "-out", f"{name}.pem")
    _openssl(folder, "pkcs12", "-export", "-in", f"{name}.pem", "-inkey", f"{name}.key", "-certfile", "ca.pem",
             "-name", name, "-out", f"{name}.p12", "-passout", "env:PKI_KEYSTORE_PASSWORD",
             env={"PKI_KEYSTORE_PASSWORD": password})


def make_pki(folder: Path, keystore_password: str | None = None) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    pki = Pki(folder, keystore_password or secrets.token_urlsafe(18))
    _ca(folder, "ca", "/CN=metrics-replay test CA")
    _ca(folder, "other-ca", "/CN=metrics-replay other CA")
    _leaf(folder, "broker", "/CN=127.0.0.1",
          "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
          "extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
          pki.keystore_password)
    _leaf(folder, "client", "/CN=replay-client",
          "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
          "extendedKeyUsage=clientAuth\n", pki.keystore_password)
    for key in folder.glob("*.key"):
        key.chmod(0o600)
    return pki
