"""Evals of checkpoints and adapters with lm-evaluation-harness, run offline in a subprocess."""
