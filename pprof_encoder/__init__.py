"""pprof_encoder: a hand-rolled protobuf writer and reader for pprof and OTLP profiles."""
