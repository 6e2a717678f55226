"""Probes of checkpoints and adapters: what adopters ask at release (does it load with the usual
tools, does it fine-tune, what does it cost), measured the same way for every member."""
