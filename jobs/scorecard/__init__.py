"""The six-factor adoption scorecard of a checkpoint or adapter (performance for its size,
provenance, license, tooling at release, fine-tunability, readiness) and the contamination
declarations that flag its scores. Read by the API, the version page, the Hub card and the CLI."""

from jobs.scorecard.build import SCORED_KINDS, scorecard
from jobs.scorecard.model import Scorecard

__all__ = ["SCORED_KINDS", "Scorecard", "scorecard"]
