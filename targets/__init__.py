"""Device descriptions: qubits, coupling graph and native gates of a compilation target."""

from .target import Target, all_to_all

__all__ = ["Target", "all_to_all"]
