""":func:`~molstrata.data.smiles.parse_smiles` memoised on disk: a warm sweep does not parse
its molecules with RDKit again (4 s of CPU per 16k molecules).

Files live under ``<MOLSTRATA_CACHE_DIR>/smiles/<digest>.json``; the digest hashes the input
strings in order, the RDKit version and a format version, so a new RDKit or a stricter
:func:`~molstrata.data.smiles.check_smiles` recomputes. Each file holds the canonical SMILES
and the reason of every invalid row (JSON, written atomically); an unreadable or malformed
one is recomputed. Like the scaffold cache, the files are trusted: a hand-edited one changes
what is fed to the encoder, so clear the cache folder after editing files in it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from molstrata.core.errors import check_choice
from molstrata.core.files import atomic_write
from molstrata.core.paths import cache_dir, cache_enabled
from molstrata.data.smiles import ParsedSmiles, _parsed, check_sequence, parse_smiles

#: bump when parse_smiles' checks or what the files hold change
_CACHE_VERSION = "1"
#: shorter lists are parsed directly (a file read costs more than RDKit for a few rows)
MIN_ROWS = 256


def cached_parse_smiles(smiles: Sequence[str], *, on_invalid: str = "raise",
                        source: str | None = None) -> ParsedSmiles:
    """:func:`~molstrata.data.smiles.parse_smiles`, read from the disk memo when it holds the
    same strings (same result, same errors). Lists shorter than :data:`MIN_ROWS`, lists with
    non-``str`` rows and ``--no-cache`` runs are parsed directly.

    Parameters
    ----------
    smiles : sequence of str, length n
    on_invalid, source : as :func:`~molstrata.data.smiles.parse_smiles`

    Returns
    -------
    ParsedSmiles with n rows, in input order
    """
    check_choice("on_invalid", on_invalid, ("raise", "mask"))
    check_sequence(smiles)
    items = list(smiles)
    if len(items) < MIN_ROWS or not cache_enabled() or not all(type(x) is str for x in items):
        return parse_smiles(items, on_invalid=on_invalid, source=source)
    import rdkit

    digest = hashlib.sha256(f"v{_CACHE_VERSION}|rdkit {rdkit.__version__}|".encode())
    for smi in items:
        digest.update(smi.encode("utf-8", "surrogatepass") + b"\n")
    path = cache_dir() / "smiles" / f"{digest.hexdigest()}.json"
    try:
        data = json.loads(path.read_text())
        canon, reasons = data["canonical"], data["reasons"]
        ok = (len(canon) == len(reasons) == len(items)
              and all(isinstance(x, str) for x in canon) and all(isinstance(x, str) for x in reasons))
    except (OSError, ValueError, KeyError, TypeError):
        ok = False
    if ok:
        return _parsed(items, canon, reasons, on_invalid=on_invalid, source=source)
    parsed = parse_smiles(items, on_invalid="mask", source=source)
    payload = {"canonical": list(parsed.canonical), "reasons": list(parsed.reasons)}
    try:
        atomic_write(path, json.dumps(payload, separators=(",", ":")), cache=True)
    except OSError:  # a read-only cache only costs time (StorageError is an OSError)
        pass
    return _parsed(items, list(parsed.canonical), list(parsed.reasons), on_invalid=on_invalid,
                   source=source)
