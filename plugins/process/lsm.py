"""process.apparmorProfile, process.selinuxLabel and linux.mountLabel (config.md#linux-process,
config-linux.md#mount-label): Linux security modules.

Each is applied only when the host runs that LSM; asking for one the host does not have is
an error naming the field (fail closed: a container must not run unconfined when the
config asks for confinement).

- apparmorProfile: ``exec PROFILE`` written to ``/proc/self/attr/apparmor/exec`` (or
  ``/proc/self/attr/exec`` on kernels without the per-LSM directory), in the
  ``credentials`` phase before the capability sets are applied: the profile takes effect at
  the execve of the user program (runc's ApplyProfile, aa_change_onexec).
- selinuxLabel: the label written to ``/proc/self/attr/exec`` at the same point (runc's
  SetExecLabel); it becomes the program's context at execve.
- mountLabel: accepted only without a label to apply, i.e. refused on a host without SELinux
  and, until the mounts plugin passes ``context=`` to its mounts, refused on an SELinux host
  too.

Host detection follows runc and go-selinux: AppArmor is enabled when
``/sys/kernel/security/apparmor`` exists and ``/sys/module/apparmor/parameters/enabled``
starts with ``Y``; SELinux when selinuxfs is at ``/sys/fs/selinux``.

Lean: standard library and limpet.core only.
"""

from __future__ import annotations

import errno
import os

from limpet.core.errors import ExecutionError, SpecError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

APPARMOR = "process.apparmorProfile"
SELINUX = "process.selinuxLabel"
MOUNT_LABEL = "linux.mountLabel"


def apparmor_enabled(root: str = "/") -> bool:
    if not os.path.isdir(os.path.join(root, "sys/kernel/security/apparmor")):
        return False
    try:
        with open(os.path.join(root, "sys/module/apparmor/parameters/enabled")) as f:
            return f.read().startswith("Y")
    except OSError:
        return False


def selinux_enabled(root: str = "/") -> bool:
    return os.path.exists(os.path.join(root, "sys/fs/selinux/enforce"))


def validate(spec: Any, root: str = "/") -> None:
    process = spec.process
    if process.apparmor_profile:
        if not apparmor_enabled(root):
            raise SpecError(APPARMOR, f"profile {process.apparmor_profile!r} asked, but "
                            "AppArmor is not enabled on this host")
        if any(c in process.apparmor_profile for c in "\n\0"):
            raise SpecError(APPARMOR, "the profile name must be one line without NUL bytes")
    if process.selinux_label:
        if not selinux_enabled(root):
            raise SpecError(SELINUX, f"label {process.selinux_label!r} asked, but SELinux is "
                            "not enabled on this host")
        if any(c in process.selinux_label for c in "\n\0"):
            raise SpecError(SELINUX, "the label must be one line without NUL bytes")
    label = spec.linux.mount_label if spec.linux else None
    if label:
        if not selinux_enabled(root):
            raise SpecError(MOUNT_LABEL, f"label {label!r} asked, but SELinux is not enabled "
                            "on this host")
        raise SpecError(MOUNT_LABEL, "mount labels are not applied yet (the mounts plugin "
                        "does not pass context= to its mounts)")


def plan(spec: Any, plan: Any) -> None:
    process = spec.process
    if process.apparmor_profile:
        plan.add("credentials", "apparmor-exec-profile", APPARMOR,
                 profile=process.apparmor_profile)
    if process.selinux_label:
        plan.add("credentials", "selinux-exec-label", SELINUX, label=process.selinux_label)


def _write_attr(ctx: Any, paths: list[str], data: str, where: str, what: str) -> None:
    last: OSError | None = None
    for path in paths:
        try:
            fd = os.open(ctx.root_path(path), os.O_WRONLY | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            last = exc
            continue
        except OSError as exc:
            raise ExecutionError(where, f"cannot set {what}: {path}: {exc.strerror}",
                                 errno=exc.errno) from None
        try:
            os.write(fd, data.encode())
            return
        except OSError as exc:
            hint = "is the profile loaded?" if exc.errno == errno.ENOENT else None
            raise ExecutionError(where, f"cannot set {what}: {exc.strerror}",
                                 errno=exc.errno, hint=hint) from None
        finally:
            os.close(fd)
    raise ExecutionError(where, f"cannot set {what}: {' and '.join(paths)} missing in the "
                         "container (mount proc on /proc)",
                         errno=last.errno if last else None)


def apparmor_exec_profile(ctx: Any, args: dict[str, Any]) -> None:
    """aa_change_onexec: the profile of the next execve."""
    profile = args["profile"]
    _write_attr(ctx, ["/proc/self/attr/apparmor/exec", "/proc/self/attr/exec"],
                f"exec {profile}", APPARMOR, f"AppArmor profile {profile!r}")


def selinux_exec_label(ctx: Any, args: dict[str, Any]) -> None:
    """setexeccon: the SELinux context of the next execve."""
    label = args["label"]
    _write_attr(ctx, ["/proc/self/attr/exec"], label, SELINUX, f"SELinux label {label!r}")
