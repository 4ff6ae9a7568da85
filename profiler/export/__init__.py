"""Exporters of the continuous agent (OTLP/HTTP, OTLP/gRPC, Pyroscope, files) and delivery."""
