"""Versioned schemas of the registry's own document formats (recipes, RL environment manifests).

Each schema is public: its `schema` field names the version (`consortium.recipe/v1`), unknown fields
are errors, and a new version gets a new module rather than a silent change to an old one.
"""
