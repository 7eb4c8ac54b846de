"""limpet-minimal-dev: an example third-party limpet plugin that replaces the built-in
``devices`` plugin with a minimal /dev.

The hooks live in :mod:`limpet_minimal_dev.plugin` (runtime process); the op handlers in
:mod:`limpet_minimal_dev.ops` (container init, lean). This module stays empty of imports so
that loading either one costs nothing extra.
"""

__version__ = "0.1.0"
