"""Files exporter: one ``.pb.gz`` per interval in a directory, oldest removed past a size cap."""

from __future__ import annotations

import os
import time

from .delivery import Payload


class DirectoryExporter:
    """Writes each payload to ``directory`` as ``profile-<unix ms>-<seq>.pb.gz``."""

    def __init__(self, directory: str, *, max_bytes: int = 512 << 20, suffix: str = ".pb.gz"):
        self.directory = directory
        self.max_bytes = max_bytes
        self.suffix = suffix
        os.makedirs(directory, exist_ok=True)

    def __call__(self, payload: Payload) -> None:
        """Write one payload atomically, then enforce the size cap."""
        stamp = int(payload.meta.get("until", time.time()) * 1000)
        name = f"profile-{stamp:013d}-{payload.seq:06d}{self.suffix}"
        path = os.path.join(self.directory, name)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(payload.data)
        os.replace(tmp, path)
        self._enforce_cap()

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
