"""The exception and warning types for bad or incomplete user input.

The CLI prints an InputError as one ``hqvit: error:`` line (exit 2) and a CalibrationWarning as
one ``hqvit: warning:`` line. They live at the bottom layer so that every package can raise them
without importing the runtime.
"""


class InputError(ValueError):
    """Raised for invalid configurations, files, images or resource requests."""


class CalibrationWarning(UserWarning):
    """A calibration file loaded, but some of its qubits or couplers had to be left out."""


class TrainingDiverged(RuntimeError):
    """Training met a non-finite loss or gradient; the last good checkpoint is kept."""
