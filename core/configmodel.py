"""The pydantic models of config.yaml (see :mod:`.config`), imported only when the file
exists: without it the defaults apply (:class:`.config.DefaultConfig`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class PluginsSection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enable: list[str] = Field(default_factory=list, description="opt-in plugins to load")
    block: list[str] = Field(default_factory=list, description="plugins never to load")
    options: dict[str, dict[str, Any]] = Field(default_factory=dict,
                                               description="per-plugin options")


class RuntimeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plugins: PluginsSection = Field(default_factory=PluginsSection)
    backends: dict[str, str] = Field(default_factory=dict,
                                     description="area -> backend name, e.g. cgroups: v2")
