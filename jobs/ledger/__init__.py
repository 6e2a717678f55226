"""The compute ledger: what each org spent on its runs and what it avoided by building on other
members' runs instead of re-running them (reuses, derived checkpoints, acknowledgements)."""
