"""What ``top`` shows: the screen as lines of text, from a tally and the view's state.

Pure text (no terminal here), so the layout is tested without one and the batch mode prints
the same lines.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..output.top_table import SORT_KEYS, WHERE_HEADER, Tally

KEYS_HELP = "q quit  s/t/f/p sort by self/total/function/process  w window/all  space pause"
# Keys that choose the sort, and the sort key each one picks.
SORT_BY_KEY = {"s": "self", "t": "total", "f": "function", "p": "process"}


@dataclass
class TopState:
    """What the view shows besides the numbers: what is profiled, at which rate, the sort, and
    whether it sums the window or the whole run, or is paused."""

    title: str
    freq: int
    window_s: float
    sort: str = "self"
    cumulative: bool = False
    paused: bool = False

    def __post_init__(self) -> None:
        if self.sort not in SORT_KEYS:
            raise ValueError(f"unknown sort key {self.sort!r}: choose one of {SORT_KEYS}")

    def press(self, key: str) -> bool:
        """Apply a key; False when it asks to quit."""
        if key in ("q", "Q", "\x03"):
            return False
        if key in SORT_BY_KEY:
            self.sort = SORT_BY_KEY[key]
        elif key == "w":
            self.cumulative = not self.cumulative
        elif key == " ":
            self.paused = not self.paused
        return True


def render(
    state: TopState, tally: Tally, seconds: float, width: int, height: int, lost: int = 0
) -> list[str]:
    """The screen: a title line, a status line (samples, CPUs busy, sort), the table, the keys.

    ``seconds``: the time the tally covers; ``height`` limits the rows, ``width`` every line.
    """
    total = tally.total
    busy = total / (seconds * state.freq) if seconds > 0 and state.freq else 0.0
    span = f"all {seconds:.0f} s" if state.cumulative else f"last {seconds:.0f} s"
    status = f"{span}: {total} samples, {busy:.2f} CPUs busy · {state.freq} Hz · sort: {state.sort}"
    if lost:
        status += f" · {lost} lost"
    if state.paused:
        status += " · PAUSED (space resumes)"
    lines = [f"pureprof top — {state.title}", status, ""]
    room = max(0, height - len(lines) - 3)  # header, blank line and keys below
    rows = tally.rows(state.sort)[:room]
    where = max([len(WHERE_HEADER)] + [len(r.key.where) for r in rows])
    where = min(where, max(len(WHERE_HEADER), width // 3))
    lines.append(
        f"{'self%':>7} {'total%':>7} {'self s':>8} {'total s':>8}  {WHERE_HEADER:<{where}}  "
        "function"
    )
    base = total or 1
    freq = state.freq or 1
    for r in rows:
        lines.append(
            f"{100 * r.flat / base:6.2f}% {100 * r.cum / base:6.2f}% "
            f"{r.flat / freq:8.2f} {r.cum / freq:8.2f}  {_fit(r.key.where, where):<{where}}  "
            f"{r.key.marker} {r.key.function}"
        )
    if not rows:
        lines.append("  (no samples yet)")
    lines += ["", KEYS_HELP]
    return [_fit(line, width) for line in lines[: max(1, height)]]


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"
