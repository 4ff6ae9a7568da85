"""The OTLP resources of a pprof profile: given attributes, and the service its labels name.

pprof has no resource; what it says of one is in sample labels. A ``service.name`` label (or
Pyroscope's ``service_name``) names the service of its samples: the profile is split into one
resource per service, each with ``service.name`` set. Attributes given by the caller (``convert
--resource k=v``) go on every resource and win over the labels. The labels themselves stay on
the samples (as sample attributes), so converting back to pprof loses nothing.

>>> from pprof_encoder import ProfileBuilder
>>> b = ProfileBuilder([("samples", "count")])
>>> b.add_sample(["main"], [2], {"service_name": "checkout"})
>>> b.add_sample(["main"], [3], {"service_name": "cart"})
>>> for r in resources_of(b.build(), {"host.name": "node-1"}):
...     print(r.attributes)
{'host.name': 'node-1', 'service.name': 'checkout'}
{'host.name': 'node-1', 'service.name': 'cart'}
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .otlp import AttributeValue, ResourceProfiles
from .profile import Profile, Sample
from .split import split

SERVICE_NAME = "service.name"
# Sample labels that name the service, in the order they are looked for.
SERVICE_LABELS = (SERVICE_NAME, "service_name")


def parse_attributes(items: Iterable[str]) -> dict[str, str]:
    """``k=v`` strings as a dict (later ones win); ``ValueError`` names a malformed one."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"resource attribute {item!r} is not key=value")
        out[key] = value
    return out


def service_of(sample: Sample) -> str:
    """The service a sample's labels name ("" if none)."""
    for wanted in SERVICE_LABELS:
        for label in sample.labels:
            if label.key == wanted and not label.is_num and label.str:
                return label.str
    return ""


def resources_of(
    profile: Profile,
    attributes: Mapping[str, AttributeValue] | None = None,
    scope_name: str = "pureprof",
    scope_version: str = "",
) -> list[ResourceProfiles]:
    """The resources of ``profile``: one per service its labels name (one in all when none
    does, or when ``attributes`` set ``service.name``), each with ``attributes``."""
    base = dict(attributes or {})
    if SERVICE_NAME in base or not any(service_of(s) for s in profile.samples):
        return [ResourceProfiles(base, [profile], scope_name, scope_version)]
    out = []
    for service, part in split(profile, service_of).items():
        attrs = dict(base)
        if service:
            attrs[SERVICE_NAME] = service
        out.append(ResourceProfiles(attrs, [part], scope_name, scope_version))
    return out
