"""``update``: change the limits of a created or running container (runc's ``update``).

The request is a LinuxResources document (config-linux.md#control-groups). Each section it
names is merged over the one recorded at create (or at the last update): a field it sets
replaces the recorded one, the others stay; list and map sections (``devices``,
``hugepageLimits``, ``rdma``, ``unified``) are replaced whole. The merged sections are
validated like config.json (errors name ``linux.resources...``) and written with the
create's conversions; sections the request does not name are not touched. Device rules are
applied as a whole: on v1 by the fewest writes from what ``devices.list`` shows to the new
rules (a running container keeps the devices both allow; the deny-all reset only when the
default changes), then ``devices.list`` is checked; on v2 a new BPF filter replaces the old
one.

Imports pydantic (through limpet.core.spec): used by the ``update`` verb only.
"""

from __future__ import annotations

import copy
import os

from limpet.core.errors import LimpetError, SpecError
from limpet.core.spec import dump, load_config
from limpet.core.syscalls import Syscalls

from . import bpf_devices, cgfs, devices, memory
from .base import CgroupDir
from .controllers import needed
from .v1 import V1
from .v2 import V2

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAP_SECTIONS = ("devices", "hugepageLimits", "rdma", "unified")


def merge(current: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """The resources after the update (JSON dicts, by the spec's names)."""
    merged = copy.deepcopy(current)
    for key, value in request.items():
        if key in MAP_SECTIONS or not isinstance(value, dict) or \
                not isinstance(merged.get(key), dict):
            merged[key] = copy.deepcopy(value)
        else:
            merged[key] = {**merged[key], **value}
    return merged


def _parse(resources: dict[str, Any]) -> Any:
    spec = load_config({"ociVersion": "1.3.0", "linux": {"resources": resources}},
                       origin="linux.resources")
    assert spec.linux is not None and spec.linux.resources is not None
    return spec.linux.resources


def update(facts: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """Apply ``request``; returns the new ``facts["cgroups"]``."""
    record = facts["cgroups"]
    if not isinstance(request, dict):
        raise SpecError("linux.resources", "expected a JSON object")
    merged = merge(record.get("resources") or {}, request)
    partial = _parse({key: merged[key] for key in request})
    for module in needed(partial):
        module.validate(partial)
    driver: Any = V1.from_host() if record["driver"] == "v1" else V2.from_host()
    dirs = [CgroupDir.from_json(d) for d in record["dirs"]]
    settings = driver.settings(partial, update=True)
    driver.check(settings)
    device_dir = None   # v1 with new device rules: written as a transition, then checked
    if record["driver"] == "v1":
        current = _current_limit(driver, dirs)
        if current is not None:
            settings = memory.order_v1(settings, current)
        if partial.devices is not None:
            device_dir = next((d.path for d in dirs if "devices" in d.controllers), None)
        if device_dir is not None:
            settings = devices.v1_transition(device_dir, partial) + \
                [s for s in settings if s.controller != "devices"]
    for setting in settings:
        cgfs.apply(driver.file_for(dirs, setting), setting.value, setting.where, setting.hint,
                   list(setting.alternatives), verify=setting.verify, usage=setting.usage)
    if device_dir is not None:
        devices.v1_verify(device_dir, partial)
    if record["driver"] == "v2" and partial.devices is not None:
        rules = [rule for _, rule in devices.rules(partial)]
        bpf_devices.attach(Syscalls(), dirs[0].path, rules, devices.WHERE)
    new = dict(record)
    new["resources"] = {**(record.get("resources") or {}),
                        **dump(_parse({key: merged[key] for key in request}))}
    return new


def _current_limit(driver: Any, dirs: list[CgroupDir]) -> int | None:
    directory = next((d.path for d in dirs if "memory" in d.controllers), None)
    if directory is None:
        return None
    try:
        return int(cgfs.read(os.path.join(directory, "memory.limit_in_bytes")))
    except (ValueError, LimpetError):
        return None
