"""Files exporter: one ``.pb.gz`` per interval in a directory, oldest removed past a size cap."""

from __future__ import annotations

import os
import time

from ..output.files import write_atomically
from .delivery import Payload, RetryableError


class DirectoryExporter:
    """Writes each payload to ``directory`` as ``profile-<unix ms>-<seq>.pb.gz``.

    A directory that is missing is created at the next write; one that cannot be written (full,
    read-only) fails the payload as retryable, so the delivery keeps it within its bounds.
    """

    def __init__(self, directory: str, *, max_bytes: int = 512 << 20, suffix: str = ".pb.gz"):
        self.directory = directory
        self.max_bytes = max_bytes
        self.suffix = suffix

    def __call__(self, payload: Payload) -> None:
        """Write one payload atomically, then enforce the size cap."""
        stamp = int(payload.meta.get("until", time.time()) * 1000)
        name = f"profile-{stamp:013d}-{payload.seq:06d}{self.suffix}"
        try:
            os.makedirs(self.directory, exist_ok=True)
            write_atomically(os.path.join(self.directory, name), payload.data)
            self._enforce_cap()
        except OSError as exc:
            raise RetryableError(f"cannot write {self.directory}: {exc.strerror or exc}") from exc

    def _enforce_cap(self) -> None:
        files = sorted(
            e
            for e in os.listdir(self.directory)
            if e.startswith("profile-") and e.endswith(self.suffix)
        )
        sizes = {f: os.path.getsize(os.path.join(self.directory, f)) for f in files}
        total = sum(sizes.values())
        for f in files[:-1]:  # never remove the newest
            if total <= self.max_bytes:
                break
            os.unlink(os.path.join(self.directory, f))
            total -= sizes[f]

    def close(self) -> None:
        """Nothing to close."""
