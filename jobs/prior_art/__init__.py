"""Prior-art search: has a consortium member already run this experiment?

Recipes (schema consortium.recipe/v1) are reduced to comparable features (`normalize.experiment`:
units, aliases, mixture fractions, warmup in steps), then scored pairwise (`similarity.compare`)
with fixed, documented weights, so every score can be explained field by field. Pure functions: no
models and no I/O; the selector that decides which recipes an actor may see lives elsewhere.
"""
