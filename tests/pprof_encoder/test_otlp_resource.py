"""What an OTLP request says besides the stacks: the resource and the pprof fields OTLP has no
place for. opentelemetry-proto's own classes read what we write (the oracle); ``convert --to
otlp`` keeps the comments and the service labels and takes ``--resource k=v``."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.proto.collector.profiles.v1development.profiles_service_pb2 import (
    ExportProfilesServiceRequest,
)

from pprof_encoder import Frame, ProfileBuilder, parse
from pprof_encoder.formats import dump, load
from pprof_encoder.otlp import COMMENT_ATTRIBUTE, DOC_URL_ATTRIBUTE, decode_request
from pprof_encoder.resources import parse_attributes, resources_of

ROOT = Path(__file__).resolve().parents[2]
COMMENTS = ["pureprof: cpu-clock sampling at 99 Hz", 'pureprof.title.command: "./server -v"']


def labelled_profile(services: tuple[str, ...] = ("checkout", "cart")):
    b = ProfileBuilder(
        [("samples", "count"), ("cpu", "nanoseconds")],
        ("cpu", "nanoseconds"),
        10_101_010,
        time_nanos=1_700_000_000_000_000_000,
        duration_nanos=5_000_000_000,
        comments=COMMENTS,
        drop_frames="runtime\\..*",
    )
    for i, service in enumerate(services):
        labels = {"service_name": service, "pid": 100 + i}
        b.add_sample([Frame(f"handle_{service}", "srv.go", 10), "main"], [i + 1, 0], labels)
    b.add_sample(["gc"], [7, 0], {"pid": 99})  # no service: a resource of its own
    profile = b.build()
    profile.doc_url = "https://example.com/profiles"
    return profile


def official(data: bytes) -> ExportProfilesServiceRequest:
    req = ExportProfilesServiceRequest()
    req.ParseFromString(data)
    return req


def attributes(kvs) -> dict:
    out = {}
    for kv in kvs:
        which = kv.value.WhichOneof("value")
        if which == "array_value":
            out[kv.key] = [v.string_value for v in kv.value.array_value.values]
        else:
            out[kv.key] = getattr(kv.value, which)
    return out


def profile_attributes(req, profile) -> dict:
    table = req.dictionary.attribute_table
    strings = req.dictionary.string_table
    out = {}
    for i in profile.attribute_indices:
        kv = table[i]
        which = kv.value.WhichOneof("value")
        value = kv.value.array_value.values if which == "array_value" else kv.value.string_value
        out[strings[kv.key_strindex]] = (
            [v.string_value for v in value] if which == "array_value" else value
        )
    return out


def test_one_resource_per_service_label_with_the_given_attributes():
    req = official(dump(labelled_profile(), "otlp", resource={"host.name": "node-1"}))
    resources = [attributes(rp.resource.attributes) for rp in req.resource_profiles]
    assert resources == [
        {"host.name": "node-1", "service.name": "checkout"},
        {"host.name": "node-1", "service.name": "cart"},
        {"host.name": "node-1"},
    ]
    totals = [
        sum(v for s in rp.scope_profiles[0].profiles[0].samples for v in s.values)
        for rp in req.resource_profiles
    ]
    assert totals == [1, 2, 7]


def test_an_explicit_service_name_wins_and_makes_one_resource():
    req = official(dump(labelled_profile(), "otlp", resource={"service.name": "shop"}))
    assert [attributes(rp.resource.attributes) for rp in req.resource_profiles] == [
        {"service.name": "shop"}
    ]


def test_comments_doc_url_and_drop_frames_are_pprof_profile_attributes():
    req = official(dump(labelled_profile(("one",)), "otlp"))
    for rp in req.resource_profiles:
        for profile in rp.scope_profiles[0].profiles:  # one per sample type: each has them
            attrs = profile_attributes(req, profile)
            assert attrs[COMMENT_ATTRIBUTE] == COMMENTS
            assert attrs[DOC_URL_ATTRIBUTE] == "https://example.com/profiles"
            assert attrs["pprof.profile.drop_frames"] == "runtime\\..*"


def test_otlp_and_back_keeps_comments_labels_and_totals():
    original = labelled_profile()
    back = load(dump(original, "otlp", resource={"host.name": "n"}), "otlp")
    assert back.comments == COMMENTS  # once, though each sample type's profile carries them
    assert back.doc_url == original.doc_url and back.drop_frames == original.drop_frames
    assert back.total(0) == original.total(0) == 10
    services = sorted(lb.str for s in back.samples for lb in s.labels if lb.key == "service_name")
    assert services == ["cart", "checkout"]
    resources = decode_request(dump(original, "otlp"))
    assert [r.attributes.get("service.name") for r in resources] == ["checkout", "cart", None]


def run_convert(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pprof_encoder", "convert", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_convert_to_otlp_takes_resource_attributes(tmp_path):
    src = tmp_path / "in.pb.gz"
    src.write_bytes(gzip.compress(labelled_profile().encode()))
    out = tmp_path / "out.otlp"
    res = run_convert(
        str(src),
        str(out),
        "--resource",
        "host.name=node-7",
        "--resource",
        "deployment.environment=prod",
    )
    assert res.returncode == 0, res.stderr
    req = official(out.read_bytes())
    resources = [attributes(rp.resource.attributes) for rp in req.resource_profiles]
    assert resources[0] == {
        "host.name": "node-7",
        "deployment.environment": "prod",
        "service.name": "checkout",
    }
    profile = req.resource_profiles[0].scope_profiles[0].profiles[0]
    assert profile_attributes(req, profile)[COMMENT_ATTRIBUTE] == COMMENTS
    # And back to pprof: the comments are there again.
    back = tmp_path / "back.pb.gz"
    assert run_convert(str(out), str(back)).returncode == 0
    assert parse(back.read_bytes()).comments == COMMENTS


@pytest.mark.parametrize(
    "args,message",
    [
        (["--resource", "novalue"], "is not key=value"),
        (["--resource", "=x"], "is not key=value"),
        (["--to", "folded", "--resource", "a=b"], "use it with --to otlp"),
    ],
)
def test_convert_resource_errors(tmp_path, args, message):
    src = tmp_path / "in.pb.gz"
    src.write_bytes(gzip.compress(labelled_profile().encode()))
    res = run_convert(str(src), str(tmp_path / "out.otlp"), *args)
    assert res.returncode == 1 and message in res.stderr


def test_parse_attributes_and_no_label_means_one_resource():
    assert parse_attributes(["a=1", "b=x=y", "a=2"]) == {"a": "2", "b": "x=y"}
    b = ProfileBuilder([("samples", "count")])
    b.add_sample(["main"], [1], {"pid": 1})
    (only,) = resources_of(b.build(), {"k": "v"})
    assert only.attributes == {"k": "v"}
