"""Claims (limpet.core.claims): a present spec field that no enabled plugin applies is an
error naming its JSON path (runtime-spec config.md: a runtime MUST generate an error for a
recognised property it cannot apply)."""

from __future__ import annotations

from typing import Any

import pytest
from limpet.core import claims
from limpet.core.errors import SpecError
from limpet.core.spec import Spec

BASE: dict[str, Any] = {"ociVersion": "1.3.0", "root": {"path": "rootfs"}}
OWNERS = {"root": "mounts", "linux.namespaces": "namespaces"}


def config(**extra: Any) -> dict[str, Any]:
    return {**BASE, **extra}


def check_error(raw: dict[str, Any], owners: dict[str, str] | None = None) -> SpecError:
    with pytest.raises(SpecError) as info:
        claims.check(Spec, raw, OWNERS if owners is None else owners)
    return info.value


def test_present_field_without_owner_fails_with_its_exact_path() -> None:
    err = check_error(config(linux={"intelRdt": {"closID": "guaranteed"}}))
    assert str(err) == "linux.intelRdt: no enabled plugin handles this"
    assert err.where == "linux.intelRdt"
    assert err.hint  # tells the user what to do


def test_claimed_fields_pass() -> None:
    claims.check(Spec, config(linux={"namespaces": [{"type": "mount"}]}), OWNERS)


@pytest.mark.parametrize("value", [False, None, [], {}])
def test_falsy_values_need_no_owner(value: Any) -> None:
    raw = config(linux={"intelRdt": value, "sysctl": value}, hooks=value)
    claims.check(Spec, raw, OWNERS)


def test_zero_is_a_value_that_needs_an_owner() -> None:
    raw = config(process={"cwd": "/", "args": ["sh"], "oomScoreAdj": 0})
    err = check_error(raw, {**OWNERS, "process.cwd": "p", "process.args": "p"})
    assert err.where == "process.oomScoreAdj"


def test_nested_claim_reports_the_unclaimed_sibling() -> None:
    raw = config(process={"args": ["sh"], "cwd": "/", "oomScoreAdj": 100})
    err = check_error(raw, {**OWNERS, "process.args": "process", "process.cwd": "process"})
    assert err.where == "process.oomScoreAdj"
    assert str(err).startswith("process.oomScoreAdj: no enabled plugin handles this")


def test_field_with_sub_claims_only_is_checked_field_by_field() -> None:
    raw = config(process={"args": ["sh"], "cwd": "/"})
    claims.check(Spec, raw, {**OWNERS, "process.args": "process", "process.cwd": "process"})


def test_nested_claims_walk_list_items() -> None:
    raw = config(mounts=[{"destination": "/proc", "type": "proc"},
                         {"destination": "/x", "uidMappings": [
                             {"containerID": 0, "hostID": 1000, "size": 1}]}])
    owners = {**OWNERS, "mounts.destination": "m", "mounts.type": "m"}
    assert claims.unclaimed(Spec, raw, set(owners) | set(claims.CORE_CLAIMS)) == [
        "mounts.uidMappings"]


def test_all_unclaimed_paths_are_listed_in_the_message() -> None:
    err = check_error(config(linux={"intelRdt": {"closID": "a"}, "personality":
                                    {"domain": "LINUX"}}, domainname="example"))
    assert err.where == "linux.intelRdt"
    assert "linux.personality" in err.message
    assert "domainname" in err.message


def test_unknown_properties_are_ignored() -> None:
    raw = config(**{"org.example.custom": {"x": 1}},
                 linux={"namespaces": [{"type": "mount"}], "notInTheSpec": True})
    claims.check(Spec, raw, OWNERS)


@pytest.mark.parametrize("platform", ["solaris", "windows", "vm", "zos", "freebsd"])
def test_other_platform_sections_are_ignored(platform: str) -> None:
    claims.check(Spec, config(**{platform: {"anything": {"goes": 1}}}), OWNERS)


def test_core_claims_need_no_plugin() -> None:
    claims.check(Spec, config(annotations={"a": "b"}), OWNERS)


def test_whole_section_claim_covers_everything_inside() -> None:
    raw = config(linux={"namespaces": [{"type": "mount", "path": "/proc/1/ns/mnt"}]})
    assert claims.unclaimed(Spec, raw, {"root", "linux", "ociVersion"}) == []
