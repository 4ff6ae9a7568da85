"""The continuous agent: one profile per interval, handed to exporters."""
