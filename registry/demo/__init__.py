"""The demo catalogue `make run` seeds: its files (files.py), what it holds and where each version stands
(catalogue.py), and the seeding through the running registry (seeding.py)."""
