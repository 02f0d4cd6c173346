"""Logging of the ``molstrata`` command: stdlib :mod:`logging`, warnings routed through it.

:func:`setup_logging` (called by the root command with its ``-v``/``-q`` count) sends the
``molstrata`` logger and Python warnings (:func:`logging.captureWarnings`) to stderr as
``warning: message`` lines: no source paths, no echoed source line, and each distinct
warning said once per run. :func:`teardown_logging` undoes all of it (the CLI tests run
many commands in one process). Library code only logs (``logging.getLogger(__name__)``) and
warns; it never configures handlers.
"""

from __future__ import annotations

import logging
import sys
import warnings
from typing import Any

__all__ = ["LOGGER_NAME", "is_quiet", "setup_logging", "teardown_logging", "verbosity_level"]

LOGGER_NAME = "molstrata"
_WARNINGS_LOGGER = "py.warnings"


def verbosity_level(verbose: int = 0, quiet: int = 0) -> int:
    """The logging level of ``-v``/``-q`` counts: INFO by default, DEBUG with ``-v``,
    WARNING with ``-q``, ERROR with ``-qq``."""
    steps = [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR]
    return steps[max(0, min(len(steps) - 1, 1 - verbose + quiet))]


class _OnceFilter(logging.Filter):
    """Pass each distinct (level, message) once; the same warning raised by every task, seed
    or batch is said the first time only."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[tuple[int, str]] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.levelno, record.getMessage())
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


def _format_warning(message: Any, category: type[Warning], filename: str, lineno: int,
                    line: str | None = None) -> str:
    """``Category: message``, without the file path, line number and source line that
    :func:`warnings.formatwarning` adds."""
    text = str(message).strip()
    return text if category is UserWarning else f"{category.__name__}: {text}"


_state: dict[str, Any] = {}


def setup_logging(level: int = logging.INFO, stream: Any = None) -> None:
    """Send ``molstrata`` log records and Python warnings at ``level`` and above to
    ``stream`` (default: stderr) as ``level: message`` lines, each said once."""
    teardown_logging()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname_lower)s: %(message)s"))
    handler.addFilter(_lowercase_level)
    handler.addFilter(_OnceFilter())
    saved = {"format": warnings.formatwarning, "handler": handler, "levels": {}}
    for name in (LOGGER_NAME, _WARNINGS_LOGGER):
        logger = logging.getLogger(name)
        saved["levels"][name] = (logger.level, logger.propagate)
        logger.addHandler(handler)
        logger.setLevel(level)
        logger.propagate = False
    warnings.formatwarning = _format_warning
    logging.captureWarnings(True)
    _state.update(saved)


def teardown_logging() -> None:
    """Undo :func:`setup_logging` (no-op when it was not called)."""
    if not _state:
        return
    logging.captureWarnings(False)
    warnings.formatwarning = _state["format"]
    for name, (level, propagate) in _state["levels"].items():
        logger = logging.getLogger(name)
        logger.removeHandler(_state["handler"])
        logger.setLevel(level)
        logger.propagate = propagate
    _state.clear()


def is_quiet() -> bool:
    """True when the CLI was given ``-q``: progress bars stay off (library use: False)."""
    return bool(_state) and not logging.getLogger(LOGGER_NAME).isEnabledFor(logging.INFO)


def _lowercase_level(record: logging.LogRecord) -> bool:
    record.levelname_lower = record.levelname.lower()
    return True
