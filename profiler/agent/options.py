"""The agent's configuration as one value: the session, the interval, the exporters, the status.

The command line (:mod:`profiler.cli.agent_command`) fills it from flags and environment
variables; tests and embedders build it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..bpf.options import OptionError
from ..session.options import SessionOptions


@dataclass(frozen=True)
class OtlpOptions:
    """An OTLP exporter: ``protocol`` http (``POST {endpoint}{path}``) or grpc."""

    endpoint: str
    protocol: str = "http"
    path: str = "/v1development/profiles"
    headers: tuple[tuple[str, str], ...] = ()
    compression: str = "gzip"
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.protocol not in ("http", "grpc"):
            raise OptionError(f"the OTLP protocol must be http or grpc, not {self.protocol!r}")
        if self.compression not in ("gzip", "none"):
            raise OptionError(f"OTLP compression must be gzip or none, not {self.compression!r}")


@dataclass(frozen=True)
class AgentOptions:
    """Everything the agent does.

    ``interval``: seconds per profile; ``duration``: stop after this long (``None``: until
    SIGTERM); ``otlp`` / ``pyroscope_url`` / ``output_dir``: the exporters (any of them);
    ``spill_dir``: undelivered payloads kept on disk (they survive a restart); ``max_*_bytes``:
    the bounds of the in-memory queue, the spill directory and the output directory;
    ``flush_timeout``: seconds to deliver what is queued at SIGTERM; ``status_file``: the
    agent's own health as JSON after every interval; ``service_name``: the ``service.name`` of
    every resource (inferred per process when ``None``).
    """

    session: SessionOptions = field(default_factory=SessionOptions)
    interval: float = 10.0
    duration: float | None = None
    otlp: OtlpOptions | None = None
    pyroscope_url: str | None = None
    pyroscope_tenant: str | None = None
    output_dir: str | None = None
    output_dir_max_bytes: int = 512 << 20
    service_name: str | None = None
    spill_dir: str | None = None
    max_queue_bytes: int = 64 << 20
    max_spill_bytes: int = 256 << 20
    flush_timeout: float = 5.0
    status_file: str | None = None

    def __post_init__(self) -> None:
        if not 0.1 <= self.interval <= 86400:
            raise OptionError(f"the interval must be 0.1-86400 s, not {self.interval:g}")
        if self.duration is not None and self.duration <= 0:
            raise OptionError(f"the duration must be positive, not {self.duration:g}")
        if self.flush_timeout < 0:
            raise OptionError(f"the flush timeout must be 0 or more, not {self.flush_timeout:g}")
        for name in ("output_dir_max_bytes", "max_queue_bytes", "max_spill_bytes"):
            if getattr(self, name) <= 0:
                raise OptionError(f"{name.replace('_', ' ')} must be positive")
