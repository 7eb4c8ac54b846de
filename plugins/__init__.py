"""limpet.plugins: the built-in plugins, one spec area each, loaded from entry points."""
