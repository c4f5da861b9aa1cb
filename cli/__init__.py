"""The ``hqvit`` command line."""
