"""The product's settings plus a baseline route for the benchmarks (never deployed)."""

from consortium.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
