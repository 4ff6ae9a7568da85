"""Pyroscope exporter: ``POST {url}/ingest?name=app{labels}&from=..&until=..&format=pprof``.

The pprof body goes in a multipart form field ``profile`` (as Pyroscope's own clients send it).
The application name and labels come from the resource; ``X-Scope-OrgID`` names the tenant.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlencode

from .delivery import Payload
from .otlp_http import HttpPoster

_LABEL_KEY = re.compile(r"[^a-zA-Z0-9_]")


def app_name(name: str, labels: dict[str, str]) -> str:
    """Pyroscope's ``name`` parameter: ``app.cpu{k=v,...}`` with sorted, sanitised label keys."""
    base = name if name.endswith(".cpu") else f"{name}.cpu"
    if not labels:
        return base
    inner = ",".join(
        f"{_LABEL_KEY.sub('_', k)}={str(v).replace(',', '_').replace('}', '_')}"
        for k, v in sorted(labels.items())
    )
    return f"{base}{{{inner}}}"


class PyroscopeExporter:
    """Sends per-interval pprof profiles to Pyroscope's ingest API."""

    def __init__(
        self,
        url: str,
        *,
        tenant: str | None = None,
        headers: dict[str, str] | None = None,
        ca_file: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        extra = dict(headers or {})
        if tenant:
            extra["X-Scope-OrgID"] = tenant
        self.base = url.rstrip("/")
        self.poster = HttpPoster(
            self.base + "/ingest", headers=extra, ca_file=ca_file, timeout=timeout
        )

    def __call__(self, payload: Payload) -> None:
        """Send one payload: ``payload.data`` is gzipped pprof; meta has name/labels/from/until."""
        meta = payload.meta
        query = urlencode(
            {
                "name": app_name(meta.get("name", "pureprof"), meta.get("labels", {})),
                "from": int(meta.get("from", 0)),
                "until": int(meta.get("until", 0)),
                "format": "pprof",
                "sampleRate": int(meta.get("sample_rate", 100)),
                "spyName": "pureprof",
            }
        )
        boundary = uuid.uuid4().hex
        body = (
            (
                f"--{boundary}\r\n"
                'Content-Disposition: form-data; name="profile"; filename="profile.pprof"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + payload.data
            + f"\r\n--{boundary}--\r\n".encode()
        )
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        self.poster.post(body, headers, path=f"{self.poster.path}?{query}")

    def close(self) -> None:
        """Close the connection."""
        self.poster.close()
