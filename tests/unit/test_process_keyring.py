"""The session keyring op and plans (plugins/process/keyring.py) against a fake syscall seam;
real containers: integration/test_session_keyring.py."""

from __future__ import annotations

import errno
from typing import Any

import pytest
from limpet.core.errors import ExecutionError
from limpet.plugins.process import keyring


class FakeKeys:
    def __init__(self, fail: int | None = None, perm: int = 0x3F130000) -> None:
        self.fail, self.perm = fail, perm
        self.calls: list[tuple[Any, ...]] = []

    def join_session_keyring(self, name: str) -> int:
        self.calls.append(("join", name))
        if self.fail:
            raise OSError(self.fail, "fake")
        return 42

    def keyctl_describe(self, key: int) -> str:
        return f"keyring;0;0;{self.perm:08x};_ses.c1"

    def keyctl_setperm(self, key: int, perm: int) -> None:
        self.calls.append(("setperm", key, perm))


class Ctx:
    def __init__(self, keys: FakeKeys) -> None:
        self.sys = keys


def test_join_adds_the_search_bit_to_what_the_kernel_gave() -> None:
    keys = FakeKeys()
    keyring.join(Ctx(keys), {"name": "_ses.c1", "search": keyring.USER_SEARCH})
    assert keys.calls == [("join", "_ses.c1"), ("setperm", 42, 0x3F130000 | 0x00080000)]


def test_exec_join_leaves_the_permissions_alone() -> None:
    keys = FakeKeys()
    keyring.join(Ctx(keys), {"name": "_ses.c1", "search": 0})
    assert keys.calls == [("join", "_ses.c1")]


def test_a_kernel_without_keyrings_is_no_error() -> None:
    keys = FakeKeys(fail=errno.ENOSYS)
    keyring.join(Ctx(keys), {"name": "_ses.c1", "search": keyring.USER_SEARCH})
    assert keys.calls == [("join", "_ses.c1")]


@pytest.mark.parametrize(("code", "hint"), [(errno.EDQUOT, "key quota"),
                                            (errno.EACCES, "--no-new-keyring")])
def test_other_failures_name_the_flag_with_a_hint(code: int, hint: str) -> None:
    with pytest.raises(ExecutionError) as info:
        keyring.join(Ctx(FakeKeys(fail=code)), {"name": "_ses.c1", "search": 8})
    assert info.value.where == "--no-new-keyring"
    assert "_ses.c1" in info.value.message and hint in (info.value.hint or "")


def joins(plan: Any) -> list[dict[str, Any]]:
    return [op.args for op in plan.ops("process") if op.kind == "join-session-keyring"]


def test_create_joins_its_own_keyring_and_records_it(unit_bundle: Any) -> None:
    plan = unit_bundle.plan()
    assert joins(plan) == [{"name": "_ses.unit-test", "search": keyring.USER_SEARCH}]
    recorded = [op.args for op in plan.ops("prepare") if op.kind == "record-session-keyring"]
    assert recorded == [{"name": "_ses.unit-test"}]


def test_with_a_user_namespace_others_may_search_it(unit_bundle: Any) -> None:
    unit_bundle.config["linux"]["namespaces"].append({"type": "user"})
    for key in ("uidMappings", "gidMappings"):
        unit_bundle.config["linux"][key] = [{"containerID": 0, "hostID": 1000, "size": 1}]
    assert joins(unit_bundle.plan())[0]["search"] == keyring.OTHER_SEARCH


def test_no_new_keyring_plans_nothing(unit_bundle: Any) -> None:
    plan = unit_bundle.plan(no_new_keyring=True)
    assert joins(plan) == []
    assert not [op for op in plan.ops("prepare") if op.kind == "record-session-keyring"]
