"""Device descriptions: qubits, coupling graph, native gates, durations, errors, noise."""

from hqvit.targets.registry import CATALOGUE, describe, resolve_target
from hqvit.targets.target import Target, ideal_target

__all__ = ["CATALOGUE", "Target", "describe", "ideal_target", "resolve_target"]
