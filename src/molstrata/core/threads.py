"""Run numerical code on a fixed number of threads, whatever ``OMP_NUM_THREADS`` or the
executor (Ray workers start with one thread) say.

Parallel reductions (BLAS, LAPACK, torch's own) split sums by thread, so their last bits
depend on the thread count; a probe's scores then differ by ~1e-14 between a laptop, a
server and a Ray worker, enough to flip a discrete choice that is a near-tie. Probe fits and
selections run inside :func:`fixed_threads` so that their bytes depend on the inputs only.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

#: threads used by every probe fit and selection (one: the only count every machine has)
FIT_THREADS = 1


@contextmanager
def fixed_threads(n: int = FIT_THREADS) -> Iterator[None]:
    """Limit BLAS/OpenMP pools (threadpoolctl) and torch's intra-op pool to ``n`` threads,
    restoring both on exit."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    with threadpool_limits(limits=int(n)):
        torch.set_num_threads(int(n))
        try:
            yield
        finally:
            torch.set_num_threads(before)
