"""Azurite (Microsoft's Azure Storage emulator) standing in for OneLake's blob endpoint, for delta-rs.

The Python engine on Fabric reads and writes Delta tables at ``abfss://<ws>@onelake.dfs.fabric.
microsoft.com/...`` with ``{"bearer_token": ..., "use_fabric_endpoint": "true"}``. Here those exact
URIs and options reach a local Azurite over HTTPS: delta-rs's object store takes
``AZURE_STORAGE_USE_EMULATOR`` / ``AZURITE_BLOB_STORAGE_URL`` / ``AZURE_ALLOW_INVALID_CERTIFICATES``
from the environment, the account is ``onelake`` (what the URI's host names), and Azurite's
``--oauth basic`` checks the bearer token's issuer, audience and lifetime (not its signature). So the
Fabric branch's table I/O runs through real Azure Blob REST calls, conditional commits included;
it does not show how OneLake itself behaves.

Installed by ``scripts/setup.sh`` (npm, into ``.fabgen/azurite``).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BINARY = REPO / ".fabgen" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "onelake"  # the account object_store takes from onelake.dfs.fabric.microsoft.com
TENANT = "ab1f708d-50f6-404c-a006-d71b2ac7a606"


def _b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def storage_token(lifetime: int = 4 * 3600) -> str:
    """An unsigned Entra-shaped token for audience ``https://storage.azure.com`` (Azurite checks claims)."""
    now = int(time.time())
    claims = {
        "aud": "https://storage.azure.com",
        "iss": f"https://sts.windows.net/{TENANT}/",
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + lifetime,
        "oid": "fabgen-tests",
        "tid": TENANT,
    }
    return f"{_b64url({'alg': 'none', 'typ': 'JWT'})}.{_b64url(claims)}.c2lnbmF0dXJl"


#: what Azurite prints once it listens; with ``--blobPort 0`` the kernel picked the port, so two Azurites
#: (two pytest sessions on one machine) can never be handed the same one, nor one find the other's
LISTENING = re.compile(rb"successfully listens on https://127\.0\.0\.1:(\d+)")


def _listening_port(process: subprocess.Popen[bytes], log_path: Path, timeout: float = 30) -> int:
    """The port Azurite says it listens on (read from its log), or RuntimeError with the log's tail."""
    deadline = time.monotonic() + timeout
    while True:
        match = LISTENING.search(log_path.read_bytes())
        if match:
            port = int(match.group(1))
            with socket.create_connection(("127.0.0.1", port), timeout=5):
                return port
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log_text = log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"Azurite did not start: {log_text}")
        time.sleep(0.2)


@dataclass
class Azurite:
    """One running Azurite blob service (HTTPS, OAuth) with the ``onelake`` account."""

    process: subprocess.Popen[bytes]
    port: int
    token: str

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What a process needs so delta-rs's OneLake URIs reach this Azurite (and the stand-in's token)."""
        return {
            "AZURE_STORAGE_USE_EMULATOR": "true",
            "AZURITE_BLOB_STORAGE_URL": self.url,
            "AZURE_ALLOW_INVALID_CERTIFICATES": "true",
            "FABRIC_STANDIN_TOKEN": self.token,
        }

    def storage_options(self) -> dict[str, str]:
        """What the runtime hands delta-rs on Fabric (``FabricStorageOptions``), with this token."""
        return {"bearer_token": self.token, "use_fabric_endpoint": "true"}

    def _put(self, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self._request("PUT", path, body, headers, 201)

    def _request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        want: int = 201,
    ) -> None:
        request = urllib.request.Request(
            f"{self.url}/{ACCOUNT}/{path}",
            data=body,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "x-ms-version": "2021-08-06",
                "x-ms-date": formatdate(usegmt=True),
                "Content-Length": str(len(body)),
                **(headers or {}),
            },
        )
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # Azurite's self-signed certificate, on 127.0.0.1
        with urllib.request.urlopen(request, context=context, timeout=60) as response:
            assert response.status == want, response.status

    def create_container(self, name: str) -> None:
        """Create the container a OneLake workspace name maps to (``PUT ?restype=container``)."""
        self._put(f"{name}?restype=container")

    def put_file(self, container: str, name: str, data: bytes) -> None:
        """Write (or overwrite) the blob ``<container>/<name>``."""
        self._put(f"{container}/{urllib.parse.quote(name)}", data, {"x-ms-blob-type": "BlockBlob"})

    def delete_file(self, container: str, name: str) -> None:
        """Delete the blob ``<container>/<name>`` (``DELETE``, 202)."""
        self._request("DELETE", f"{container}/{urllib.parse.quote(name)}", want=202)

    def upload_tree(self, folder: Path, container: str, prefix: str) -> int:
        """Upload each file under ``folder`` to ``<container>/<prefix>/<relative path>``; return the count."""
        count = 0
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            name = urllib.parse.quote(f"{prefix}/{path.relative_to(folder).as_posix()}")
            self._put(f"{container}/{name}", path.read_bytes(), {"x-ms-blob-type": "BlockBlob"})
            count += 1
        return count

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start(folder: Path) -> Azurite:
    """Start Azurite's blob service on a port the kernel picks; data, certificate, log under ``folder``."""
    if not BINARY.exists():
        raise RuntimeError(f"{BINARY} is missing: run scripts/setup.sh (it installs Azurite with npm)")
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ),
            *("-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    account_key = base64.b64encode(b"fabgen-tests-key").decode()
    log_path = folder / "azurite.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *(
                    str(BINARY),
                    "--blobHost",
                    "127.0.0.1",
                    "--blobPort",
                    "0",  # the kernel's pick, read back from Azurite's own "listens on" line
                    "--location",
                    str(folder / "data"),
                ),
                *("--oauth", "basic", "--cert", str(cert), "--key", str(key)),
                *("--skipApiVersionCheck", "--loose", "--disableTelemetry", "--silent"),
            ],
            env={**os.environ, "AZURITE_ACCOUNTS": f"{ACCOUNT}:{account_key}"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    port = _listening_port(process, log_path)
    return Azurite(process, port, storage_token())


@contextlib.contextmanager
def pointed_at(folder: Path) -> Iterator[Azurite]:
    """Azurite started in ``folder``, with this process's environment (delta-rs, the stand-in)
    pointed at it while the block runs; stopped and the environment restored after."""
    running = start(folder)
    saved = {k: os.environ.get(k) for k in running.env()}
    os.environ.update(running.env())
    try:
        yield running
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        running.stop()
