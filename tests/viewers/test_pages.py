"""The HTML and SVG flame graphs as documents (the browser tests drive the HTML page), and the
output formats the profiler's file names ask for."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from pprof_encoder import Frame, Mapping, ProfileBuilder
from profiler.frames.model import KERNEL as MODEL_KERNEL
from profiler.frames.model import KERNEL_MODULE, Module, SymbolizedSample
from profiler.frames.model import Frame as ModelFrame
from profiler.output.call_tree import build_call_tree
from profiler.output.collected import CollectedProfile
from profiler.output.formats import FORMATS, UnknownFormatError, format_for_path
from profiler.output.frame_kinds import KERNEL, NATIVE
from profiler.output.html_flamegraph import render_html
from profiler.output.palette import css_color, frame_color
from profiler.output.svg_flamegraph import render_svg
from profiler.output.title import ProfileTitle

SVG = "{http://www.w3.org/2000/svg}"
HOSTILE = "</script><script>alert(1)</script><!--"


def profile_with(names):
    kernel = Mapping(filename="[kernel.kallsyms]")
    b = ProfileBuilder(
        [("samples", "count"), ("cpu", "nanoseconds")],
        ("cpu", "nanoseconds"),
        1000,
        default_sample_type="cpu",
    )
    for i, name in enumerate(names):
        b.add_sample([name, "main"], [i + 1, 1000 * (i + 1)], {"process_name": "app"})
    b.add_sample(
        [Frame("do_syscall_64", address=0xFFFF1, mapping=kernel), "main"],
        [4, 4000],
        {"process_name": "app"},
    )
    return b.build()


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.data: dict[str, str] = {}
        self._in = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in = dict(attrs).get("id")

    def handle_data(self, data):
        if self._in:
            self.data[self._in] = self.data.get(self._in, "") + data

    def handle_endtag(self, tag):
        self._in = None


def test_html_is_self_contained_and_its_data_is_the_tree():
    profile = profile_with(["leaf", HOSTILE])
    title = ProfileTitle(command=f"./app {HOSTILE}", pids=(42,), host="h")
    page = render_html(profile, title=title)
    parser = _Tags()
    parser.feed(page)
    # Nothing fetched: no src or href anywhere, no URL in the style, two inline scripts only.
    assert [t for t, a in parser.tags if "src" in a or "href" in a] == []
    assert not re.search(r"url\(|@import|https?://", page.split('id="profile-data"')[0])
    assert [t for t, _ in parser.tags].count("script") == 2
    data = json.loads(parser.data["profile-data"])
    tree = build_call_tree(profile)
    assert data["nodes"]["depth"] == tree.depth
    assert [v * data["scale"] for v in data["nodes"]["total"]] == tree.total
    names = [data["strings"][data["frames"]["name"][f]] for f in data["nodes"]["frame"][1:]]
    assert names == ["app", "main", HOSTILE, "do_syscall_64", "leaf"]
    kinds = [data["kinds"][data["frames"]["kind"][f]] for f in data["nodes"]["frame"][1:]]
    assert kinds == ["process", NATIVE, NATIVE, KERNEL, NATIVE]
    assert parser.data["command"] == f"./app {HOSTILE}"  # escaped text, not markup
    assert '<p id="subtitle"><span><b>pid</b> 42</span>' in page


def test_svg_has_the_title_and_the_palette():
    profile = profile_with(["leaf"])
    svg = render_svg(profile, title=ProfileTitle(command="./app --fast", pids=(42,), host="h"))
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts[0] == "./app --fast"
    assert texts[1].startswith("pid 42 · host h") and "sample type cpu/nanoseconds" in texts[1]
    assert "kernel" in texts and "native" in texts  # the legend
    fills = {}
    for g in root.iter(f"{SVG}g"):
        name = g.find(f"{SVG}title").text.split(" (")[0]
        fills[name] = g.find(f"{SVG}rect").get("fill")
    assert fills["do_syscall_64"] == css_color(frame_color(KERNEL, "do_syscall_64"))
    assert fills["leaf"] == css_color(frame_color(NATIVE, "leaf"))
    assert render_svg(profile, title=ProfileTitle()) == render_svg(profile, title=ProfileTitle())


def test_kinds_have_their_own_colour_families():
    names = [f"function_{i}" for i in range(200)]
    native = {frame_color(NATIVE, n) for n in names}
    kernel = {frame_color(KERNEL, n) for n in names}
    assert not native & kernel
    # Native is the warm family (red dominates), kernel the muted one (channels close together).
    assert all(r > g and r > b for r, g, b in native)
    assert all(max(c) - min(c) < 90 for c in kernel)


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("profile.pb.gz", "pprof"),
        ("cpu.pprof", "pprof"),
        ("/dev/stdout", "pprof"),
        ("x.folded", "folded"),
        ("x.collapsed", "folded"),
        ("flame.svg", "svg"),
        ("flame.HTML", "html"),
        ("run.speedscope.json", "speedscope"),
        ("profile.otlp", "otlp"),
        ("/tmp/otlp-dir/p.pb.gz", "pprof"),  # the directory does not decide
    ],
)
def test_file_names_ask_for_formats(name, fmt):
    assert format_for_path(name) == fmt


def test_an_unknown_extension_is_an_error_naming_the_formats():
    with pytest.raises(UnknownFormatError) as err:
        format_for_path("out.json")
    message = str(err.value)
    assert ".speedscope.json" in message
    assert all(f in message for f in FORMATS)
    res = subprocess.run(
        [sys.executable, "-m", "profiler", "-o", "out.json", "-d", "1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert "cannot tell the output format of 'out.json'" in res.stderr
    assert "Profiling" not in res.stderr  # it stopped before sampling


@pytest.mark.parametrize("fmt", ["html", "svg", "speedscope", "pprof"])
def test_the_collected_profile_writes_every_rendered_format_with_its_title(tmp_path, fmt):
    frames = (
        ModelFrame(
            "vfs_write", address=0xFFFFFFFF81000000, module=KERNEL_MODULE, kind=MODEL_KERNEL
        ),
        ModelFrame(
            "leaf_two",
            "calltree.c",
            30,
            0x1200,
            Module("/bin/calltree", start=0x1000, limit=0x2000),
        ),
    )
    collected = CollectedProfile(
        samples=[SymbolizedSample(frames, 3, {"pid": 5, "tid": 5, "process_name": "calltree"})],
        freq=100,
        start_time=1_700_000_000.0,
        duration=2.0,
        title=ProfileTitle(command="./calltree 2", pids=(5,), host="box"),
    )
    path = tmp_path / f"out.{fmt}"
    assert collected.write(str(path), fmt) == fmt
    data = path.read_bytes()
    if fmt == "pprof":
        from pprof_encoder import parse

        assert ProfileTitle.from_profile(parse(data)).command == "./calltree 2"
        return
    text = data.decode()
    assert "./calltree 2" in text and "leaf_two" in text
