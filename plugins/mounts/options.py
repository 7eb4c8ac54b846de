"""The mounts plugin's section of config.yaml (imported only when config.yaml sets it)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict


class MountsOptions(BaseModel):
    """``plugins.options.mounts`` in config.yaml."""

    model_config = ConfigDict(extra="forbid")

    #: "beneath": a destination whose symlinks lead out of the rootfs is an error (default);
    #: "in-root": such symlinks are resolved inside the rootfs, as runc's securejoin does.
    symlinks: Literal["beneath", "in-root"] = "beneath"
