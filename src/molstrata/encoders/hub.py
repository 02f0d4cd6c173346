"""Fast checks of an encoder reference before anything heavy is imported or downloaded.

:func:`check_hub_id` fails in well under a second when a Hugging Face hub id is not in the
local cache and the hub cannot be used (``HF_HUB_OFFLINE=1``, or its endpoint refuses or
does not answer within :data:`CONNECT_TIMEOUT_S`), instead of the tens of seconds that
``transformers`` spends retrying. :func:`did_you_mean` suggests close registered names.
"""

from __future__ import annotations

import difflib
import os
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from molstrata.core.errors import DataNotFoundError

__all__ = ["CONNECT_TIMEOUT_S", "check_hub_id", "did_you_mean", "hub_offline"]

#: seconds to wait for a TCP connection to the hub endpoint before giving up
CONNECT_TIMEOUT_S = 1.5


def did_you_mean(name: str, choices: Sequence[str]) -> str:
    """``" Did you mean 'x'?"`` for the closest of ``choices`` (difflib), else ``""``."""
    close = difflib.get_close_matches(name, list(choices), n=2, cutoff=0.6)
    if not close:
        close = [c for c in choices if name.lower() in c.lower() or c.lower() in name.lower()][:2]
    return f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` is set to a true value (now, or when the hub was imported)."""
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE", "")
    return bool(constants.HF_HUB_OFFLINE) or value.strip().lower() in ("1", "true", "yes", "on")


def check_hub_id(repo_id: str, revision: str | None = None) -> None:
    """Return when ``repo_id``'s ``config.json`` is in the Hugging Face cache or the hub can be
    reached; else raise :class:`DataNotFoundError` at once, naming the id and the fix."""
    from huggingface_hub import constants, try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(repo_id, "config.json", revision=revision)
    except ValueError:  # not a valid repo id: let the loader say what is wrong
        return
    if isinstance(cached, str):
        return
    where = f"not in the Hugging Face cache ({constants.HF_HUB_CACHE})"
    fix = "download it once online, or pass a local model folder"
    if hub_offline():
        raise DataNotFoundError(f"--encoder {repo_id}: {where} and HF_HUB_OFFLINE is set; {fix}")
    endpoint = urlsplit(constants.ENDPOINT)
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname or "", port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise DataNotFoundError(
            f"--encoder {repo_id}: {where} and {constants.ENDPOINT} cannot be reached "
            f"({type(exc).__name__}: {exc}); {fix}"
        ) from None
