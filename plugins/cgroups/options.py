"""The cgroups plugin's section of config.yaml (imported only when config.yaml sets it)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from . import paths


class Options(BaseModel):
    """``plugins.options.cgroups`` in config.yaml."""

    model_config = ConfigDict(extra="forbid")

    parent: str | None = Field(paths.DEFAULT_PARENT, pattern=r"^/",
                               description="cgroup (absolute) of the containers whose "
                               "config.json has no linux.cgroupsPath: <parent>/<id> "
                               "(unset: /limpet-<id>)")
