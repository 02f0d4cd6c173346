"""How a local process pool's workers receive a stage's large read-only arguments once.

:class:`~molstrata.scale.local.LocalExecutor` keeps one pool for a whole run (probe cells,
selection, baseline, the next encoder). Each ``map``'s ``shared`` values are *published*
here: a value is serialised once, its large arrays (an embeddings matrix: 46k molecules x 17
layers x 512 floats = 1.6 GB for MiniMol) laid out in a memory-mapped file (``/dev/shm`` when it
has room, else the temporary folder) that every worker maps read-only instead of holding a
copy. A task carries only a small :data:`Handle` per value; a worker reads a value the first
time it meets its handle and keeps it while later tasks still name it, so the embeddings
and task splits shared by the probe and the selection stages cross once per run.

The serialisation is Python's pickle protocol 5 (arrays out of band), as the pool itself uses
for every task: bytes written by this process for its own workers, in a file only this user
can read, removed when the executor closes; never a file anyone else supplies.
"""

from __future__ import annotations

import io
import itertools
import mmap
import os
import pickle
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: buffers smaller than this stay inside the pickle stream
_OUT_OF_BAND = 1 << 16
#: values whose pickle (arrays included) is smaller than this travel inline with each task
_INLINE = 1 << 18
#: file name prefix of the published segments (``<prefix><pid>-<n>``)
PREFIX = "molstrata-pool-"
_ALIGN = 64
#: numbers the segments of every publisher of this process (two executors never share a name)
_COUNT = itertools.count()

#: ``("inline", data)`` or ``("file", token, path, pickle_bytes, ((offset, n_bytes), ...))``
Handle = tuple


def _segment_dir(n_bytes: int) -> Path:
    """``/dev/shm`` when it exists and holds ``n_bytes`` with room to spare, else the temp folder."""
    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 * n_bytes + (64 << 20):
            return shm
    except OSError:
        pass
    return Path(tempfile.gettempdir())


def _sweep_orphans(folder: Path) -> None:
    """Remove segments left by a process that no longer runs (killed before it closed)."""
    for path in folder.glob(f"{PREFIX}*"):
        try:
            pid = int(path.name[len(PREFIX):].split("-", 1)[0])
            os.kill(pid, 0)
        except ProcessLookupError:
            path.unlink(missing_ok=True)
        except (ValueError, PermissionError, OSError):
            continue


def _serialise(value: Any) -> tuple[bytes, list[memoryview]]:
    """(pickle stream, the large buffers kept out of it in order)."""
    buffers: list[memoryview] = []

    def keep(buf: pickle.PickleBuffer) -> bool:  # False: out of band
        raw = buf.raw()
        if raw.nbytes < _OUT_OF_BAND:
            return True
        buffers.append(raw)
        return False

    stream = io.BytesIO()
    pickle.Pickler(stream, protocol=5, buffer_callback=keep).dump(value)
    return stream.getvalue(), buffers


class Publisher:
    """The calling process's side: publish ``shared`` values, remove them when unused."""

    def __init__(self) -> None:
        self._live: dict[int, tuple[Any, Handle]] = {}  # id(value) -> (value kept alive, handle)

    def publish(self, shared: Mapping[str, Any], *, pinned: Sequence[Any] = ()) -> dict[str, Handle]:
        """A handle per value of ``shared``; values published by an earlier call and still
        passed (or ``pinned``: those of tasks still queued) are kept, the others are dropped
        first (their files removed)."""
        wanted = {id(v) for v in shared.values()} | {id(v) for v in pinned}
        for key in [k for k in self._live if k not in wanted]:
            self._drop(key)
        handles = {}
        for name, value in shared.items():
            if id(value) not in self._live:
                self._live[id(value)] = (value, self._handle(value))
            handles[name] = self._live[id(value)][1]
        return handles

    def _handle(self, value: Any) -> Handle:
        data, buffers = _serialise(value)
        total = len(data) + sum(b.nbytes for b in buffers)
        if total < _INLINE:
            stream = io.BytesIO()
            pickle.Pickler(stream, protocol=5).dump(value)
            return ("inline", stream.getvalue())
        folder = _segment_dir(total)
        _sweep_orphans(folder)
        token = f"{PREFIX}{os.getpid()}-{next(_COUNT)}"
        path = folder / token
        spans, offset = [], _aligned(len(data))
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                for buf in buffers:
                    fh.seek(offset)
                    fh.write(buf)
                    spans.append((offset, buf.nbytes))
                    offset = _aligned(offset + buf.nbytes)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return ("file", token, str(path), len(data), tuple(spans))

    def _drop(self, key: int) -> None:
        _, handle = self._live.pop(key)
        if handle[0] == "file":
            Path(handle[2]).unlink(missing_ok=True)

    def close(self) -> None:
        """Remove every published file (workers that still map one keep their pages)."""
        for key in list(self._live):
            self._drop(key)


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


#: in a worker: token -> (value, its mmap); and maps whose arrays were still in use
_CACHE: dict[str, tuple[Any, mmap.mmap]] = {}
_RETIRED: list[mmap.mmap] = []


def resolve(handles: Mapping[str, Handle]) -> dict[str, Any]:
    """In a worker: the values behind ``handles`` (read once per handle, arrays mapped read-only)."""
    tokens = {h[1] for h in handles.values() if h[0] == "file"}
    for token in [t for t in _CACHE if t not in tokens]:  # a value no stage passes any more
        _RETIRED.append(_CACHE.pop(token)[1])
    _close_retired()
    return {name: _value(h) for name, h in handles.items()}


def _value(handle: Handle) -> Any:
    if handle[0] == "inline":
        return pickle.loads(handle[1])
    _, token, path, n_data, spans = handle
    if token not in _CACHE:
        with open(path, "rb") as fh:
            mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        view = memoryview(mapped)
        try:
            value = pickle.loads(view[:n_data], buffers=[view[o:o + n] for o, n in spans])
        finally:
            view.release()
        _CACHE[token] = (value, mapped)
    return _CACHE[token][0]


def _close_retired() -> None:
    """Unmap the retired files no array still points into."""
    for mapped in list(_RETIRED):
        try:
            mapped.close()
        except BufferError:
            continue
        _RETIRED.remove(mapped)
