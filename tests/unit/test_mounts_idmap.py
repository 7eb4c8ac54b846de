"""Id-mapped mounts as data: which configs are refused and where, and what the plan asks
the runtime for (config.md#mounts uidMappings/gidMappings, the idmap/ridmap options).
The mounts themselves are checked in real containers: integration/test_idmapped_mounts.py."""

from __future__ import annotations

from typing import Any

import pytest
from limpet.core.errors import SpecError
from limpet.plugins.mounts import ops as mount_ops
from limpet.plugins.mounts.plugin import limpet_declare

UID = [{"containerID": 0, "hostID": 1000, "size": 100}]
GID = [{"containerID": 0, "hostID": 2000, "size": 50}]


def spec_error(bundle: Any) -> SpecError:
    with pytest.raises(SpecError) as info:
        bundle.compile()
    return info.value


def add_mount(bundle: Any, **mount: Any) -> int:
    source = bundle.path / "src"
    source.mkdir(exist_ok=True)
    entry = {"destination": "/m", "type": "bind", "source": str(source), "options": ["bind"]}
    bundle.config["mounts"].append({**entry, **mount})
    return len(bundle.config["mounts"]) - 1


def with_user_namespace(bundle: Any) -> None:
    bundle.config["linux"]["namespaces"].append({"type": "user"})
    bundle.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000,
                                              "size": 65536}]
    bundle.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000,
                                              "size": 65536}]


def test_mappings_put_the_idmap_in_the_mount_op(unit_bundle: Any) -> None:
    add_mount(unit_bundle, options=["rbind", "idmap"], uidMappings=UID, gidMappings=GID)
    op = unit_bundle.plan().ops("mounts")[-1]
    assert op.args["idmap"] == {"recursive": False, "uid": UID, "gid": GID}


def test_ridmap_makes_the_mapping_recursive(unit_bundle: Any) -> None:
    add_mount(unit_bundle, options=["rbind", "ridmap"], uidMappings=UID, gidMappings=GID)
    assert unit_bundle.plan().ops("mounts")[-1].args["idmap"]["recursive"] is True


def test_mappings_without_the_option_still_map(unit_bundle: Any) -> None:
    """As runc: the mappings alone ask for a (non-recursive) id-mapped mount."""
    add_mount(unit_bundle, uidMappings=UID, gidMappings=GID)
    assert unit_bundle.plan().ops("mounts")[-1].args["idmap"]["recursive"] is False


def test_idmap_without_mappings_takes_the_container_user_namespace(unit_bundle: Any) -> None:
    with_user_namespace(unit_bundle)
    add_mount(unit_bundle, options=["bind", "idmap"])
    assert unit_bundle.plan().ops("mounts")[-1].args["idmap"] == {
        "recursive": False, "uid": [], "gid": []}


def test_a_plain_bind_mount_has_no_idmap(unit_bundle: Any) -> None:
    add_mount(unit_bundle)
    assert "idmap" not in unit_bundle.plan().ops("mounts")[-1].args


@pytest.mark.parametrize(("given", "missing"), [("uidMappings", "gidMappings"),
                                                ("gidMappings", "uidMappings")])
def test_one_mapping_without_the_other_names_the_missing_one(unit_bundle: Any, given: str,
                                                             missing: str) -> None:
    i = add_mount(unit_bundle, options=["bind", "idmap"], **{given: UID})
    err = spec_error(unit_bundle)
    assert err.where == f"mounts[{i}].{missing}"
    assert given in err.message


def test_idmap_on_a_filesystem_mount_names_the_option(unit_bundle: Any) -> None:
    unit_bundle.config["mounts"][0]["options"] = ["nosuid", "idmap"]   # /proc
    err = spec_error(unit_bundle)
    assert err.where == "mounts[0].options[1]"
    assert "bind mounts only" in err.message


def test_mappings_on_a_filesystem_mount_name_uid_mappings(unit_bundle: Any) -> None:
    unit_bundle.config["mounts"].append({"destination": "/t", "type": "tmpfs",
                                         "source": "tmpfs", "uidMappings": UID,
                                         "gidMappings": GID})
    i = len(unit_bundle.config["mounts"]) - 1
    assert spec_error(unit_bundle).where == f"mounts[{i}].uidMappings"


def test_idmap_without_mappings_or_user_namespace_names_the_option(unit_bundle: Any) -> None:
    i = add_mount(unit_bundle, options=["rbind", "nosuid", "ridmap"])
    err = spec_error(unit_bundle)
    assert err.where == f"mounts[{i}].options[2]"
    assert "no user namespace" in err.message


def test_an_empty_mapping_names_its_size(unit_bundle: Any) -> None:
    i = add_mount(unit_bundle, uidMappings=UID,
                  gidMappings=[{"containerID": 0, "hostID": 1, "size": 0}])
    assert spec_error(unit_bundle).where == f"mounts[{i}].gidMappings[0].size"


def test_idmap_options_never_reach_the_kernel() -> None:
    opts = mount_ops.parse_options(["rbind", "idmap", "ridmap", "ro"])
    assert opts["data"] == ""


def test_features_say_idmap_mounts_are_recognised() -> None:
    features = limpet_declare().features
    assert features["linux"]["mountExtensions"] == {"idmap": {"enabled": True}}
    assert {"idmap", "ridmap"} <= set(features["mountOptions"])
