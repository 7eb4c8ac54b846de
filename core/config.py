"""The runtime's declarative configuration: /etc/limpet/config.yaml.

Owned by root, never by a bundle: it alone decides which plugins run, which backend each
area uses, and each plugin's options. Read with ruamel.yaml (round-trip, so
``limpet config set`` keeps comments) and validated by pydantic (:mod:`.configmodel`) with
``extra="forbid"``: a typo is an error naming the key and its line. With no file, the
defaults apply (:class:`DefaultConfig`; neither ruamel nor pydantic is imported).

Example::

    plugins:
      block: [devices]            # never load these
      enable: [example-devices]   # opt-in plugins (default_enabled=False)
      options:
        example-devices: {extra: [/dev/fuse]}
    backends:
      cgroups: v1
"""

from __future__ import annotations

import os

from .errors import ConfigError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pydantic import ValidationError

    from .configmodel import RuntimeConfig

DEFAULT_PATH = "/etc/limpet/config.yaml"


class _DefaultPlugins:
    def __init__(self) -> None:
        self.enable: list[str] = []
        self.block: list[str] = []
        self.options: dict[str, dict[str, Any]] = {}


class DefaultConfig:
    """What applies without a config.yaml: ``RuntimeConfig.model_validate({})``, built
    without importing pydantic (tests/unit/test_config.py checks they agree)."""

    def __init__(self) -> None:
        self.plugins = _DefaultPlugins()
        self.backends: dict[str, str] = {}

    def model_dump(self, by_alias: bool = False) -> dict[str, Any]:
        return {"plugins": {"enable": [], "block": [], "options": {}}, "backends": {}}


def config_path(cli_value: str | None = None) -> str:
    return cli_value or os.environ.get("LIMPET_CONFIG") or DEFAULT_PATH


def line_of(doc: Any, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of ``loc`` in a ruamel round-trip document, if known."""
    node, line = doc, None
    for key in loc:
        lc = getattr(node, "lc", None)
        try:
            if lc is not None:
                if isinstance(key, int):
                    line = lc.item(key)[0] + 1
                else:
                    line = lc.key(key)[0] + 1
            node = node[key]
        except (KeyError, IndexError, TypeError, AttributeError):
            break
    return line


def load_document(path: str) -> Any:
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        return None   # the defaults apply; ruamel is not even imported
    except OSError as exc:
        raise ConfigError(path, f"cannot read: {exc.strerror}") from None
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="rt").load(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(where, f"invalid YAML: {problem}") from None


def validate_document(doc: Any, path: str) -> RuntimeConfig | DefaultConfig:
    if doc is None:
        return DefaultConfig()
    if not isinstance(doc, dict):
        raise ConfigError(path, "the top level must be a mapping")
    from pydantic import ValidationError

    from .configmodel import RuntimeConfig

    try:
        return RuntimeConfig.model_validate(doc)
    except ValidationError as exc:
        raise config_error(exc, doc, path, prefix=()) from None


def config_error(exc: ValidationError, doc: Any, path: str,
                 prefix: tuple[Any, ...]) -> ConfigError:
    first = exc.errors()[0]
    loc = prefix + tuple(first["loc"])
    dotted = ".".join(str(p) for p in loc) or "(top level)"
    line = line_of(doc, loc if first["type"] != "extra_forbidden" else loc)
    where = f"{path}:{line}" if line else path
    message = first["msg"]
    if first["type"] == "extra_forbidden":
        message = f"unknown key {loc[-1]!r}"
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more)" if more else ""
    return ConfigError(where, f"{dotted}: {message}{suffix}")


def load(cli_value: str | None = None) -> tuple[RuntimeConfig | DefaultConfig, Any, str]:
    """Load and validate the config file; returns (model, raw document, path)."""
    path = config_path(cli_value)
    doc = load_document(path)
    return validate_document(doc, path), doc, path


def _parse_value(text: str) -> Any:
    """A value on the command line is YAML: ``v2``, ``[devices]``, ``{nodes: [null]}``."""
    from ruamel.yaml import YAML

    return YAML(typ="rt").load(text)


def set_value(path: str, key: str, text: str) -> Any:
    """``limpet config set KEY VALUE``: change one dotted key, keeping the file's comments.

    The result is validated (with the plugins) before it is written; returns the document.
    """
    from ruamel.yaml.comments import CommentedMap

    doc = load_document(path)
    if doc is None:
        doc = CommentedMap()
    node = doc
    parts = key.split(".")
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = CommentedMap()
        node = node[part]
    node[parts[-1]] = _parse_value(text)
    return doc


def dump_document(doc: Any) -> str:
    import io

    from ruamel.yaml import YAML

    out = io.StringIO()
    YAML(typ="rt").dump(doc, out)
    return out.getvalue()


def write_document(path: str, doc: Any) -> None:
    """Write atomically, mode 0644 (the file is root's: bundles never choose plugins)."""
    text = dump_document(doc)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)
