"""A fast path for the command lines engines send (engines.md: ``create``, ``start``,
``state``, ``kill``, ``delete``, ``exec``, ``pause``, ``resume``, ``ps``, ``--version``).

argparse costs about 15 ms per exec (re, enum, gettext), more than some verbs take in all.
:func:`parse` reads the same flags into the namespace argparse would give; anything it does
not know (help, a typo, an unknown flag or verb) returns None, and the caller falls back to
argparse, which handles errors and usage. tests/unit/test_argv.py checks both agree.

Standard library only, no imports at all: this module is on every verb's path.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: flag -> (attribute, kind): kind "value" takes an argument, "int" an integer, "append"
#: a repeatable argument, "bool" none.
Flags = dict[str, tuple[str, str]]

GLOBAL: Flags = {
    "--root": ("root", "value"), "--log": ("log", "value"),
    "--log-format": ("log_format", "value"), "--config": ("config", "value"),
    "--rootless": ("rootless", "value"), "--criu": ("criu", "value"),
    "--debug": ("debug", "bool"), "--systemd-cgroup": ("systemd_cgroup", "bool"),
    "-v": ("version", "bool"), "--version": ("version", "bool"),
}
GLOBAL_DEFAULTS: dict[str, Any] = {
    "root": None, "log": None, "log_format": None, "config": None, "rootless": None,
    "criu": None, "debug": False, "systemd_cgroup": False, "version": False,
}
_CREATE: Flags = {
    "-b": ("bundle", "value"), "--bundle": ("bundle", "value"),
    "--pid-file": ("pid_file", "value"), "--console-socket": ("console_socket", "value"),
    "--no-pivot": ("no_pivot", "bool"), "--no-new-keyring": ("no_new_keyring", "bool"),
    "--preserve-fds": ("preserve_fds", "int"),
}
_CREATE_DEFAULTS: dict[str, Any] = {
    "bundle": ".", "pid_file": None, "console_socket": None, "no_pivot": False,
    "no_new_keyring": False, "preserve_fds": 0,
}
_EXEC: Flags = {
    "-p": ("process", "value"), "--process": ("process", "value"),
    "-d": ("detach", "bool"), "--detach": ("detach", "bool"),
    "--pid-file": ("pid_file", "value"), "-t": ("tty", "bool"), "--tty": ("tty", "bool"),
    "--console-socket": ("console_socket", "value"), "--cwd": ("cwd", "value"),
    "-e": ("env", "append"), "--env": ("env", "append"),
    "-u": ("user", "value"), "--user": ("user", "value"),
    "-g": ("additional_gids", "append"), "--additional-gids": ("additional_gids", "append"),
    "-c": ("cap", "append"), "--cap": ("cap", "append"),
    "--no-new-privs": ("no_new_privs", "bool"), "--apparmor": ("apparmor", "value"),
    "--process-label": ("process_label", "value"),
    "--preserve-fds": ("preserve_fds", "int"), "--ignore-paused": ("ignore_paused", "bool"),
}
_EXEC_DEFAULTS: dict[str, Any] = {
    "process": None, "detach": False, "pid_file": None, "tty": False,
    "console_socket": None, "cwd": None, "env": [], "user": None, "additional_gids": [],
    "cap": [], "no_new_privs": False, "apparmor": None, "process_label": None,
    "preserve_fds": 0, "ignore_paused": False,
}
_PS: Flags = {"-f": ("format", "value"), "--format": ("format", "value")}

#: verb -> (flags, defaults, positionals). A positional ending in "?" is optional (default
#: in the defaults); "*" takes the rest of the line (argparse.REMAINDER).
VERBS: dict[str, tuple[Flags, dict[str, Any], tuple[str, ...]]] = {
    "create": (_CREATE, _CREATE_DEFAULTS, ("container_id",)),
    "run": ({**_CREATE, "-d": ("detach", "bool"), "--detach": ("detach", "bool"),
             "--keep": ("keep", "bool"), "-t": ("tty", "bool"), "--tty": ("tty", "bool")},
            {**_CREATE_DEFAULTS, "detach": False, "keep": False, "tty": False},
            ("container_id",)),
    "start": ({}, {}, ("container_id",)),
    "state": ({}, {}, ("container_id",)),
    "pause": ({}, {}, ("container_id",)),
    "resume": ({}, {}, ("container_id",)),
    "kill": ({"-a": ("all", "bool"), "--all": ("all", "bool")},
             {"all": False, "signal": "SIGTERM"}, ("container_id", "signal?")),
    "delete": ({"-f": ("force", "bool"), "--force": ("force", "bool")}, {"force": False},
               ("container_id",)),
    "exec": (_EXEC, _EXEC_DEFAULTS, ("container_id", "command*")),
    "ps": (_PS, {"format": "table"}, ("container_id", "ps_args*")),
}
_CHOICES = {"log_format": ("text", "json"), "format": ("table", "json")}


class Namespace:
    """What argparse.Namespace offers the verbs: attributes."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"Namespace({self.__dict__!r})"


def _take(flags: Flags, argv: list[str], i: int, out: dict[str, Any]) -> int | None:
    """Read the flag at argv[i] (``--x v``, ``--x=v``, ``-x v``); returns the next index,
    or None if it is not one of ``flags``."""
    arg = argv[i]
    name, eq, value = arg.partition("=")
    spec = flags.get(name)
    if spec is None:
        return None
    attr, kind = spec
    if kind == "bool":
        if eq:
            if value not in ("true", "false"):
                return None
            out[attr] = value == "true"
        else:
            out[attr] = True
        return i + 1
    if not eq:
        if i + 1 >= len(argv):
            return None
        value = argv[i + 1]
        i += 1
    if kind == "int":
        if not value.lstrip("-").isdigit():
            return None
        out[attr] = int(value)
    elif kind == "append":
        out[attr] = [*out.get(attr, []), value]
    else:
        if attr in _CHOICES and value not in _CHOICES[attr]:
            return None
        out[attr] = value
    return i + 1


def parse(argv: list[str]) -> Namespace | None:
    """The namespace argparse would build for ``argv``, or None to let argparse decide."""
    out: dict[str, Any] = dict(GLOBAL_DEFAULTS)
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        taken = _take(GLOBAL, argv, i, out)
        if taken is None:
            return None
        i = taken
    if i >= len(argv) and out["version"]:   # `limpet --version`: engines ask at start-up
        return Namespace(**out, verb=None)
    if i >= len(argv) or argv[i] not in VERBS:
        return None
    verb = argv[i]
    flags, defaults, positionals = VERBS[verb]
    out.update((k, list(v) if isinstance(v, list) else v) for k, v in defaults.items())
    out["verb"] = verb
    i += 1
    found: list[str] = []
    rest: list[str] = []
    star = next((k for k, p in enumerate(positionals) if p.endswith("*")), -1)
    while i < len(argv):
        if len(found) == star:   # argparse.REMAINDER: everything after, flags included
            rest = argv[i:]
            break
        arg = argv[i]
        if arg == "--":
            return None
        if arg.startswith("-") and len(arg) > 1 and not _is_number(arg):
            taken = _take(flags, argv, i, out)
            if taken is None:
                return None
            i = taken
            continue
        found.append(arg)
        i += 1
    for index, name in enumerate(positionals):
        if name.endswith("*"):
            out[name[:-1]] = rest
            continue
        key = name.rstrip("?")
        if index < len(found):
            out[key] = found[index]
        elif not name.endswith("?"):
            return None
    plain = [p for p in positionals if not p.endswith("*")]
    if len(found) > len(plain):
        return None
    return Namespace(**out)


def _is_number(arg: str) -> bool:
    return arg[1:].isdigit()
