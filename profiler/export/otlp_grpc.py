"""OTLP/gRPC profiles exporter (optional extra: ``pip install pureprof[grpc]``).

Calls ``opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export`` with the
request bytes we encode ourselves: no generated protobuf code at run time, only grpcio's channel.
"""

from __future__ import annotations

from .delivery import Payload, PermanentError, RetryableError

EXPORT_METHOD = "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"


def _identity(data: bytes) -> bytes:
    return data


class OtlpGrpcExporter:
    """Sends OTLP profile requests over gRPC (unary Export)."""

    def __init__(
        self,
        endpoint: str,
        *,
        headers: dict[str, str] | None = None,
        compression: str = "gzip",
        ca_file: str | None = None,
        insecure: bool | None = None,
        timeout: float = 10.0,
    ) -> None:
        try:
            import grpc
        except ImportError as exc:  # the optional extra is not installed
            raise RuntimeError(
                "OTLP over gRPC needs grpcio: pip install 'pureprof[grpc]' (or use http)"
            ) from exc
        self._grpc = grpc
        target = endpoint
        secure = endpoint.startswith("https://")
        for prefix in ("http://", "https://", "grpc://"):
            if target.startswith(prefix):
                target = target[len(prefix) :]
        target = target.rstrip("/")
        if insecure is not None:
            secure = not insecure
        if secure:
            root = open(ca_file, "rb").read() if ca_file else None
            self.channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root))
        else:
            self.channel = grpc.insecure_channel(target)
        self.compression = (
            grpc.Compression.Gzip if compression == "gzip" else grpc.Compression.NoCompression
        )
        self.metadata = [(k.lower(), v) for k, v in (headers or {}).items()]
        self.timeout = timeout
        self._export = self.channel.unary_unary(
            EXPORT_METHOD, request_serializer=_identity, response_deserializer=_identity
        )

    def __call__(self, payload: Payload) -> None:
        """Send one encoded ExportProfilesServiceRequest."""
        grpc = self._grpc
        try:
            self._export(
                payload.data,
                timeout=self.timeout,
                metadata=self.metadata,
                compression=self.compression,
            )
        except grpc.RpcError as exc:
            code = exc.code()
            retryable = {
                grpc.StatusCode.UNAVAILABLE,
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                grpc.StatusCode.DEADLINE_EXCEEDED,
                grpc.StatusCode.ABORTED,
                grpc.StatusCode.CANCELLED,
                grpc.StatusCode.OUT_OF_RANGE,
                grpc.StatusCode.DATA_LOSS,
            }
            message = f"gRPC {code.name}: {exc.details()}"
            if code in retryable:
                raise RetryableError(message) from exc
            raise PermanentError(message) from exc

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()
