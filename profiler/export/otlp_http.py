"""OTLP/HTTP profiles exporter, pure standard library (http.client).

``POST {endpoint}{path}`` (path ``/v1development/profiles`` by default), body an
``ExportProfilesServiceRequest`` in binary protobuf, ``Content-Type: application/x-protobuf``,
optionally gzip-compressed, with extra headers (auth) and TLS verified against a CA file.
"""

from __future__ import annotations

import gzip
import http.client
import ssl
from urllib.parse import urlsplit

from .delivery import Payload, classify_http_status

DEFAULT_PATH = "/v1development/profiles"


def parse_headers(text: str) -> dict[str, str]:
    """Parse ``OTLP_HEADERS``-style ``k1=v1,k2=v2`` (values may be percent-encoded)."""
    from urllib.parse import unquote

    headers = {}
    for part in text.split(","):
        if "=" in part:
            key, _, value = part.partition("=")
            headers[key.strip()] = unquote(value.strip())
    return headers


class HttpPoster:
    """POSTs bodies to one URL, re-using a connection; raises the delivery errors on failure."""

    def __init__(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        ca_file: str | None = None,
        insecure: bool = False,
        timeout: float = 10.0,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"endpoint must be http:// or https://, not {url!r}")
        self.url = url
        self.scheme = parts.scheme
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.headers = dict(headers or {})
        self.timeout = timeout
        self._ssl = None
        if parts.scheme == "https":
            self._ssl = ssl.create_default_context(cafile=ca_file)
            if insecure:
                self._ssl.check_hostname = False
                self._ssl.verify_mode = ssl.CERT_NONE
        self._conn: http.client.HTTPConnection | None = None

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self._ssl is not None:
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=self._ssl
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def post(self, body: bytes, headers: dict[str, str], path: str | None = None) -> bytes:
        """POST ``body``; returns the response body, raises Retryable/PermanentError."""
        conn = self._connection()
        try:
            conn.request("POST", path or self.path, body=body, headers={**self.headers, **headers})
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        classify_http_status(resp.status, resp.getheader("Retry-After"), data)
        return data

    def close(self) -> None:
        """Drop the connection (a new one is made on the next post)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class OtlpHttpExporter:
    """Sends OTLP profile requests over HTTP (see the module docstring)."""

    def __init__(
        self,
        endpoint: str,
        *,
        path: str = DEFAULT_PATH,
        headers: dict[str, str] | None = None,
        compression: str = "gzip",
        ca_file: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        if compression not in ("gzip", "none"):
            raise ValueError(f"OTLP compression must be gzip or none, not {compression!r}")
        self.compression = compression
        self.poster = HttpPoster(
            endpoint.rstrip("/") + path, headers=headers, ca_file=ca_file, timeout=timeout
        )

    def __call__(self, payload: Payload) -> None:
        """Send one encoded ExportProfilesServiceRequest."""
        body = payload.data
        headers = {"Content-Type": "application/x-protobuf"}
        if self.compression == "gzip":
            body = gzip.compress(body, mtime=0)
            headers["Content-Encoding"] = "gzip"
        self.poster.post(body, headers)

    def close(self) -> None:
        """Close the connection."""
        self.poster.close()
