"""What a command gives back: exit statuses, human lines or one JSON object on stdout, files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from hqvit.ir.errors import InputError

EXIT_OK, EXIT_FAILED, EXIT_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # the shell's status for Ctrl-C; the finished part of the work is kept


def json_default(x: object) -> object:
    """numpy scalars and arrays in a report become plain JSON numbers and lists."""
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"{type(x).__name__} is not JSON serializable")


def emit(result: dict, as_json: bool, human: list[str]) -> None:
    """``--json``: one JSON object as the last stdout line; otherwise the human-readable lines."""
    if as_json:
        print(json.dumps(result, default=json_default))
    else:
        print("\n".join(human))


def write_text(path: str, text: str) -> None:
    try:
        Path(path).write_text(text)
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror}") from None


def write_json_atomic(path: Path, result: dict) -> None:
    """Written to a temporary file and renamed, so a reader (or a Ctrl-C) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(result, indent=1, default=json_default))
    os.replace(tmp, path)
