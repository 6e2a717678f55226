"""Measurements: evals and probes of a checkpoint or adapter once its gating checks have passed.
They inform and never gate; each runs its work in the sandbox on files fetched into scratch."""
