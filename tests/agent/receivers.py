"""OTLP receivers for tests, built on the official opentelemetry-proto (test-only)."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2 as pb

# A behaviour decides the response to the n-th request (0-based): (status, headers).
Behaviour = Callable[[int], tuple[int, dict[str, str]]]


def always_ok(_n: int) -> tuple[int, dict[str, str]]:
    return 200, {}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OtlpHttpReceiver:
    """An OTLP/HTTP receiver on 127.0.0.1 that decodes and keeps every request it accepts."""

    def __init__(self, port: int = 0, behaviour: Behaviour = always_ok, path: str | None = None):
        self.requests: list[pb.ExportProfilesServiceRequest] = []
        self.raw: list[tuple[str, dict[str, str], bytes]] = []  # every request, accepted or not
        self.times: list[float] = []
        self.behaviour = behaviour
        self.expected_path = path or "/v1development/profiles"
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                import time

                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                n = len(receiver.raw)
                receiver.raw.append((self.path, headers, body))
                receiver.times.append(time.monotonic())
                status, extra = receiver.behaviour(n)
                if status == 200 and self.path.split("?")[0] == receiver.expected_path:
                    data = (
                        gzip.decompress(body) if headers.get("content-encoding") == "gzip" else body
                    )
                    request = pb.ExportProfilesServiceRequest()
                    request.ParseFromString(data)
                    receiver.requests.append(request)
                    out = pb.ExportProfilesServiceResponse().SerializeToString()
                elif status == 200:
                    status, out = 404, b"wrong path"
                else:
                    out = b"not now"
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join()

    def __enter__(self) -> OtlpHttpReceiver:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class OtlpGrpcReceiver:
    """An OTLP/gRPC receiver (generic handler, decoding with opentelemetry-proto)."""

    METHOD = "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"

    def __init__(self) -> None:
        from concurrent import futures

        import grpc

        self.requests: list[pb.ExportProfilesServiceRequest] = []
        self.metadata: list[dict[str, str]] = []
        receiver = self

        def export(request, context):
            receiver.requests.append(request)
            receiver.metadata.append(dict(context.invocation_metadata()))
            return pb.ExportProfilesServiceResponse()

        handler = grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.profiles.v1development.ProfilesService",
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    export,
                    request_deserializer=pb.ExportProfilesServiceRequest.FromString,
                    response_serializer=pb.ExportProfilesServiceResponse.SerializeToString,
                )
            },
        )
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        self.server.add_generic_rpc_handlers((handler,))
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.server.start()

    def close(self) -> None:
        self.server.stop(grace=None).wait()

    def __enter__(self) -> OtlpGrpcReceiver:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def total_samples(request: pb.ExportProfilesServiceRequest, sample_type: str = "") -> int:
    """Sum of sample values over every profile of a request (optionally one sample type)."""
    strings = request.dictionary.string_table
    total = 0
    for rp in request.resource_profiles:
        for sp in rp.scope_profiles:
            for profile in sp.profiles:
                if sample_type and strings[profile.sample_type.type_strindex] != sample_type:
                    continue
                for sample in profile.samples:
                    total += sum(sample.values)
    return total


def resource_attributes(request: pb.ExportProfilesServiceRequest) -> list[dict[str, object]]:
    """The attributes of every resource of a request, as plain dicts."""
    out = []
    for rp in request.resource_profiles:
        attrs = {}
        for kv in rp.resource.attributes:
            which = kv.value.WhichOneof("value")
            attrs[kv.key] = getattr(kv.value, which) if which else None
        out.append(attrs)
    return out
