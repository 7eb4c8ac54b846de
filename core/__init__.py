"""limpet.core: the lifecycle engine. Kept empty so that importing a core module stays lean."""
