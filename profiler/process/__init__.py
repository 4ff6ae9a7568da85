"""Processes as the profiler sees them: mappings, identity, events, files under their root."""
