"""Delivery that never loses what it can keep: bounded queue, optional spill directory, retries.

Each exporter gets its own :class:`Delivery`: a sender thread takes the oldest payload, sends it,
and on a retryable failure (connection error, 429, 502/503/504) waits with exponential backoff
and jitter (or the server's ``Retry-After``) and tries again; a payload the backend refuses for
good (another 4xx) is dropped and counted. Payloads wait in memory up to ``max_queue_bytes``; past
that, and when a spill directory is set, the oldest move to disk (up to ``max_spill_bytes``). When
a bound is hit the oldest payload is dropped, counted and logged. Spilled payloads survive a
restart and are sent first by the next agent.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .spill import SpillDirectory

log = logging.getLogger("profiler.export")


class RetryableError(Exception):
    """A send failed in a way that may work later (network down, overloaded backend)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    """The backend refused the payload for good (e.g. 400, 401, 413): retrying cannot help."""


RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


def classify_http_status(status: int, retry_after: str | None, body: bytes = b"") -> None:
    """Raise the right error for a non-2xx HTTP status (nothing for 2xx)."""
    if 200 <= status < 300:
        return
    detail = body[:200].decode("utf-8", "replace")
    if status in RETRYABLE_STATUS or status >= 500:
        raise RetryableError(f"HTTP {status} {detail}".strip(), parse_retry_after(retry_after))
    raise PermanentError(f"HTTP {status} {detail}".strip())


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter, capped."""

    initial: float = 0.5
    maximum: float = 30.0
    multiplier: float = 2.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        ceiling = min(self.maximum, self.initial * self.multiplier ** (attempt - 1))
        return rng.uniform(ceiling / 2, ceiling)


@dataclass
class DeliveryStats:
    """What a delivery did, for the agent's log line and status file."""

    sent: int = 0
    retries: int = 0
    dropped_overflow: int = 0  # oldest dropped because a bound was hit
    dropped_rejected: int = 0  # refused for good by the backend
    spilled: int = 0
    queued: int = 0
    queued_bytes: int = 0
    spill_bytes: int = 0
    spill_errors: int = 0  # writes/reads the spill directory refused (full, read-only...)
    last_latency_s: float = 0.0
    last_error: str = ""


@dataclass(order=True)
class Payload:
    """One request body with its sequence number (kept in order across spills and restarts)."""

    seq: int
    data: bytes = field(compare=False)
    meta: dict = field(default_factory=dict, compare=False)


class Delivery:
    """A bounded, retrying, optionally spilling sender around ``send(payload)``.

    ``send`` is an exporter: a callable that sends one payload (raising :class:`RetryableError`,
    :class:`PermanentError` or another exception), optionally with a ``close()``.
    """

    def __init__(
        self,
        name: str,
        send: Callable[[Payload], None],
        *,
        max_queue_bytes: int = 64 << 20,
        spill_dir: str | None = None,
        max_spill_bytes: int = 256 << 20,
        policy: RetryPolicy | None = None,
        seed: int | None = None,
    ) -> None:
        self.name = name
        self._send = send
        self.max_queue_bytes = max_queue_bytes
        self.policy = policy or RetryPolicy()
        self.stats = DeliveryStats()
        self._rng = random.Random(seed)
        self._queue: deque[Payload] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._seq = 0
        self._busy = False
        self._inflight: Payload | None = None
        self._retry_at = 0.0  # monotonic time before which nothing is sent (backoff)
        self.spill = SpillDirectory(spill_dir, max_spill_bytes, name) if spill_dir else None
        if self.spill is not None:
            self._seq = self.spill.last_seq() + 1
            self._spill_stats()
        self._thread = threading.Thread(target=self._run, name=f"export-{name}", daemon=True)
        self._thread.start()

    @property
    def spill_dir(self) -> str | None:
        """The spill directory, if any."""
        return self.spill.path if self.spill is not None else None

    # -- queue -------------------------------------------------------------------------------
    def submit(self, data: bytes, meta: dict | None = None) -> None:
        """Queue a payload; never blocks on the network (nor cuts a backoff short)."""
        with self._cond:
            payload = Payload(self._seq, data, meta or {})
            self._seq += 1
            self._queue.append(payload)
            self.stats.queued_bytes += len(data)
            self._enforce_bounds()
            self.stats.queued = len(self._queue)
            self._cond.notify_all()

    def _enforce_bounds(self) -> None:
        while self.stats.queued_bytes > self.max_queue_bytes and len(self._queue) > 1:
            # Never take the payload being sent right now: it is finished or retried in place.
            index = 1 if self._queue[0] is self._inflight else 0
            oldest = self._queue[index]
            del self._queue[index]
            self.stats.queued_bytes -= len(oldest.data)
            if self.spill is not None and self.spill.put(oldest.seq, oldest.data):
                self.stats.spilled += 1
                self._spill_stats()
                continue
            self._spill_stats()
            self.stats.dropped_overflow += 1
            log.warning(
                "%s: queue over %d bytes%s: dropped the oldest payload (#%d)",
                self.name,
                self.max_queue_bytes,
                " and the spill directory refused it" if self.spill is not None else "",
                oldest.seq,
            )

    def _spill_stats(self) -> None:
        spill = self.spill
        if spill is not None:
            self.stats.spill_bytes = spill.bytes
            self.stats.spill_errors = spill.errors
            self.stats.dropped_overflow += spill.dropped
            spill.dropped = 0

    def _next(self) -> tuple[Payload, str | None] | None:
        """The oldest payload: spilled ones first (they are older than anything in memory)."""
        if self.spill is not None:
            found = self.spill.oldest()
            self._spill_stats()
            if found is not None:
                seq, path, data = found
                return Payload(seq, data), path
        if self._queue:
            return self._queue[0], None
        return None

    # -- sender ------------------------------------------------------------------------------
    def _run(self) -> None:
        attempt = 0
        while True:
            with self._cond:
                # A backoff is waited out whole: new payloads do not cut it short.
                while not self._closing and time.monotonic() < self._retry_at:
                    self._cond.wait(timeout=self._retry_at - time.monotonic())
                item = self._next()
                while item is None and not self._closing:
                    self._cond.wait()
                    item = self._next()
                if item is None or (self._closing and time.monotonic() < self._retry_at):
                    return
                self._busy = True
                self._inflight = item[0]
            payload, path = item
            try:
                started = time.monotonic()
                self._send(payload)
                self.stats.last_latency_s = time.monotonic() - started
                self.stats.sent += 1
                attempt = 0
                self._done(payload, path)
            except PermanentError as exc:
                self.stats.dropped_rejected += 1
                self.stats.last_error = str(exc)
                log.error("%s: payload #%d refused, dropped: %s", self.name, payload.seq, exc)
                attempt = 0
                self._done(payload, path)
            except Exception as exc:  # network errors and RetryableError: try again later
                attempt += 1
                self.stats.retries += 1
                self.stats.last_error = str(exc)
                wait = getattr(exc, "retry_after", None)
                if wait is None:
                    wait = self.policy.delay(attempt, self._rng)
                log.warning(
                    "%s: send failed (%s); retry %d in %.2f s", self.name, exc, attempt, wait
                )
                with self._cond:
                    self._retry_at = time.monotonic() + wait
                    self._busy = False
                    self._inflight = None
                    self._cond.notify_all()
                continue
            with self._cond:
                self._busy = False
                self._inflight = None
                self._cond.notify_all()

    def _done(self, payload: Payload, path: str | None) -> None:
        with self._cond:
            if path is not None and self.spill is not None:
                self.spill.remove(path, len(payload.data))
                self._spill_stats()
            elif self._queue and self._queue[0] is payload:
                self._queue.popleft()
                self.stats.queued_bytes -= len(payload.data)
            self.stats.queued = len(self._queue)

    def pending(self) -> int:
        """Payloads not yet delivered (memory and spill directory)."""
        with self._cond:
            spilled = self.spill.count() if self.spill is not None else 0
            return len(self._queue) + spilled

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for everything queued to be sent; True if it was."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._queue or self._busy or (self.spill is not None and self.spill.count()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(timeout=min(left, 0.05))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Flush up to ``timeout`` seconds, spill what is left (if a spill dir is set), stop."""
        self.flush(timeout)
        with self._cond:
            self._closing = True
            if self.spill is not None:
                while self._queue:
                    payload = self._queue.popleft()
                    if self.spill.put(payload.seq, payload.data):
                        self.stats.spilled += 1
                    else:
                        self.stats.dropped_overflow += 1
                self.stats.queued_bytes = 0
                self.stats.queued = 0
                self._spill_stats()
            elif self._queue:
                log.warning(
                    "%s: %d payloads undelivered at exit (no spill directory)",
                    self.name,
                    len(self._queue),
                )
            self._cond.notify_all()
        self._thread.join(timeout=1.0)
        closer = getattr(self._send, "close", None)
        if callable(closer):
            closer()
