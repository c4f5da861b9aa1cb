"""One exception type for bad user input. The CLI prints its message as a single line."""


class InputError(ValueError):
    """Raised for invalid configurations, files, images or resource requests."""
