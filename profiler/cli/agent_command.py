"""``python -m profiler agent``: always-on profiling, one profile per interval, sent to exporters.

Every flag can be set by an environment variable instead (flags win): SAMPLE_FREQ, INTERVAL,
OTLP_ENDPOINT, OTLP_PROTOCOL (http|grpc), OTLP_PATH, OTLP_HEADERS (k=v,k2=v2),
OTLP_COMPRESSION, OTLP_CA_FILE, SERVICE_NAME, PYROSCOPE_URL, PYROSCOPE_TENANT, OUTPUT_DIR,
SPILL_DIR, STATUS_FILE. From the Kubernetes downward API: NODE_NAME (the resources'
k8s.node.name), POD_NAME and POD_NAMESPACE (the agent's own identity, in its status).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from ..agent.options import AgentOptions, OtlpOptions
from .flags import add_off_cpu_flags, add_stack_flags, add_target_flags, session_options
from .program import program_name
from .signals import StopOnSignals


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _examples(prog: str) -> str:
    return f"""environment (the Kubernetes downward API):
  NODE_NAME       the node: every resource's k8s.node.name and host.name
  POD_NAME, POD_NAMESPACE
                  the agent's own pod, reported in its status

examples:
  # every 10 s to an OpenTelemetry Collector, service names from the executables
  {prog} --otlp-endpoint http://otel-collector:4318
  # the same, configured by the environment (as in a DaemonSet), one service name
  OTLP_ENDPOINT=http://otel-collector:4318 SERVICE_NAME=checkout INTERVAL=10 \\
    {prog}
  # to Pyroscope, and a copy of each profile on disk (at most 512 MiB)
  {prog} --pyroscope-url http://pyroscope:4040 --output-dir /var/lib/pureprof"""


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The agent's flags (each defaults to its environment variable)."""
    from .profile_command import wrap

    d = AgentOptions
    prog = f"{prog or program_name()} agent"
    p = argparse.ArgumentParser(
        prog=prog,
        usage=f"{prog} [flags]",
        description=wrap(
            "Always-on profiling: every interval, one profile of what ran, sent to an "
            "OpenTelemetry Collector (OTLP), to Pyroscope and/or written to a directory. "
            "Sampling never waits on delivery: each exporter has a bounded queue, retries with "
            "backoff, and can spill to disk. A flag whose help names an environment variable "
            "can be set by it instead (the flag wins). SIGTERM flushes what is queued and "
            "exits."
        ),
        epilog=_examples(prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_target_flags(p, freq_env="SAMPLE_FREQ")
    p.set_defaults(freq=int(_env("SAMPLE_FREQ", str(p.get_default("freq")))))
    add_off_cpu_flags(p)
    g = p.add_argument_group("intervals")
    g.add_argument(
        "--interval",
        type=float,
        default=float(_env("INTERVAL", str(d.interval))),
        metavar="SECONDS",
        help=f"seconds per profile; env INTERVAL ({d.interval:g})",
    )
    g.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds (default: run until SIGTERM or Ctrl-C)",
    )
    o = p.add_argument_group("OTLP exporter")
    o.add_argument(
        "--otlp-endpoint",
        metavar="URL",
        default=_env("OTLP_ENDPOINT"),
        help="OTLP collector to send profiles to, e.g. http://otel-collector:4318 (http) or "
        "otel-collector:4317 (grpc); env OTLP_ENDPOINT",
    )
    o.add_argument(
        "--otlp-protocol",
        choices=("http", "grpc"),
        default=_env("OTLP_PROTOCOL", "http"),
        help="OTLP over HTTP (protobuf) or gRPC (needs the grpc extra); env OTLP_PROTOCOL (http)",
    )
    o.add_argument(
        "--otlp-path",
        metavar="PATH",
        default=_env("OTLP_PATH", "/v1development/profiles"),
        help="HTTP path of the profiles endpoint; env OTLP_PATH (/v1development/profiles)",
    )
    o.add_argument(
        "--otlp-headers",
        metavar="K=V,...",
        default=_env("OTLP_HEADERS", ""),
        help="extra request headers k=v,k2=v2 (e.g. authorization); env OTLP_HEADERS",
    )
    o.add_argument(
        "--otlp-compression",
        choices=("gzip", "none"),
        default=_env("OTLP_COMPRESSION", "gzip"),
        help="request body compression; env OTLP_COMPRESSION (gzip)",
    )
    o.add_argument(
        "--otlp-ca-file",
        metavar="FILE",
        default=_env("OTLP_CA_FILE"),
        help="CA bundle to verify the collector's TLS certificate; env OTLP_CA_FILE",
    )
    y = p.add_argument_group("Pyroscope exporter")
    y.add_argument(
        "--pyroscope-url",
        metavar="URL",
        default=_env("PYROSCOPE_URL"),
        help="Pyroscope server to send pprof to (its /ingest), e.g. http://pyroscope:4040; "
        "env PYROSCOPE_URL",
    )
    y.add_argument(
        "--pyroscope-tenant",
        metavar="ID",
        default=_env("PYROSCOPE_TENANT"),
        help="tenant id sent as X-Scope-OrgID (multi-tenant Pyroscope); env PYROSCOPE_TENANT",
    )
    f = p.add_argument_group("directory exporter")
    f.add_argument(
        "--output-dir",
        metavar="DIR",
        default=_env("OUTPUT_DIR"),
        help="also write each interval's pprof into this directory; env OUTPUT_DIR",
    )
    f.add_argument(
        "--output-dir-max-bytes",
        type=int,
        metavar="BYTES",
        default=d.output_dir_max_bytes,
        help=f"oldest files in --output-dir are removed past this size ({d.output_dir_max_bytes})",
    )
    r = p.add_argument_group("resources")
    r.add_argument(
        "--service-name",
        metavar="NAME",
        default=_env("SERVICE_NAME"),
        help="service.name of every resource (default: each process's executable name); "
        "env SERVICE_NAME",
    )
    f = p.add_argument_group("delivery")
    f.add_argument(
        "--spill-dir",
        metavar="DIR",
        default=_env("SPILL_DIR"),
        help="keep payloads that could not be delivered on disk here; the next agent sends "
        "them first after a restart; env SPILL_DIR",
    )
    f.add_argument(
        "--max-queue-bytes",
        type=int,
        metavar="BYTES",
        default=d.max_queue_bytes,
        help=f"payloads held in memory per exporter before spilling or dropping the oldest "
        f"({d.max_queue_bytes})",
    )
    f.add_argument(
        "--max-spill-bytes",
        type=int,
        metavar="BYTES",
        default=d.max_spill_bytes,
        help=f"bytes kept in --spill-dir per exporter before dropping the oldest "
        f"({d.max_spill_bytes})",
    )
    f.add_argument(
        "--flush-timeout",
        type=float,
        metavar="SECONDS",
        default=d.flush_timeout,
        help=f"seconds to deliver what is queued at SIGTERM ({d.flush_timeout:g})",
    )
    h = p.add_argument_group("the agent's own health")
    h.add_argument(
        "--status-file",
        metavar="FILE",
        default=_env("STATUS_FILE"),
        help="write the agent's own health (JSON) here after every interval; env STATUS_FILE",
    )
    add_stack_flags(p)
    return p


def agent_options(args: argparse.Namespace) -> AgentOptions:
    """The :class:`AgentOptions` of parsed flags (raises ``OptionError`` with one line)."""
    from ..export.otlp_http import parse_headers

    otlp = None
    if args.otlp_endpoint:
        otlp = OtlpOptions(
            endpoint=args.otlp_endpoint,
            protocol=args.otlp_protocol,
            path=args.otlp_path,
            headers=tuple(parse_headers(args.otlp_headers or "").items()),
            compression=args.otlp_compression,
            ca_file=args.otlp_ca_file,
        )
    return AgentOptions(
        session=session_options(args),
        interval=args.interval,
        duration=args.duration,
        otlp=otlp,
        pyroscope_url=args.pyroscope_url,
        pyroscope_tenant=args.pyroscope_tenant,
        output_dir=args.output_dir,
        output_dir_max_bytes=args.output_dir_max_bytes,
        service_name=args.service_name,
        spill_dir=args.spill_dir,
        max_queue_bytes=args.max_queue_bytes,
        max_spill_bytes=args.max_spill_bytes,
        flush_timeout=args.flush_timeout,
        status_file=args.status_file,
    )


def main(argv: list[str], stop: StopOnSignals) -> int:
    """Entry point of ``python -m profiler agent``."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr
    )
    args = build_parser().parse_args(argv)
    from pybpf.errors import BPFError

    from ..agent.agent import Agent
    from ..session import OptionError, UnknownProcessError

    try:
        agent = Agent(agent_options(args))
    except (OptionError, UnknownProcessError) as exc:
        print(f"profiler agent: {exc}", file=sys.stderr)
        return 2
    except (BPFError, OSError, RuntimeError, ValueError) as exc:
        print(f"profiler agent: {exc}", file=sys.stderr)
        return 1
    if not agent.deliveries:
        logging.getLogger("profiler.agent").warning(
            "no exporter configured (OTLP_ENDPOINT, PYROSCOPE_URL or --output-dir): "
            "profiles are only logged"
        )
    try:
        return agent.run(stop.event)
    except (BPFError, OSError) as exc:
        print(f"profiler agent: {exc}", file=sys.stderr)
        return 1
