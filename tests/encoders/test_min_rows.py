"""An embedding does not depend on how many rows its batch gives the linear layers.

CPU matrix products take other kernels for inputs of very few rows (1-3 rows on MKL gave
other bits than 4 or more), so ``[Li+]`` (one atom, no bond) embedded on its own differed
from ``[Li+]`` embedded in a batch of small molecules, which broke byte-identical tables
between a cold run (all tasks' molecules batched together) and a warm one.
"""

from __future__ import annotations

import numpy as np
import torch  # a core dependency: never skipped

SMALL = ["COCCl", "CCCCC", "COCCO", "OCCBr", "C=CCO", "OCCCl", "CN=NO", "CCC=O", "C=C=O",
         "C=COC", "CCOCC", "N#CCO", "[Li+]", "CCCCO", "OCCOC", "CC(C)C", "ClCCCl"]


def test_linear_rows_equal_those_of_a_larger_batch_whatever_the_row_count():
    from molstrata.encoders._rows import min_rows

    torch.manual_seed(0)
    lin = torch.nn.Sequential(torch.nn.Linear(300, 200), torch.nn.Linear(200, 7))
    x = torch.randn(64, 300)
    with torch.inference_mode():
        ref = lin(x)
        with min_rows(lin):
            for m in (1, 2, 3, 5):
                assert torch.equal(lin(x[:m]), ref[:m])
            assert lin(x[:2].reshape(1, 2, 300)).shape == (1, 2, 7)  # leading dims kept
            assert lin(x[:0]).shape == (0, 7)
    assert not lin[0]._forward_hooks and not lin[0]._forward_pre_hooks  # hooks removed after


def test_a_one_atom_ion_embeds_the_same_alone_and_in_a_batch_of_small_molecules():
    from molstrata.encoders import load_encoder

    enc = load_encoder("default")
    alone = enc.embed(["[Li+]"])
    batch = enc.embed(SMALL)
    i = SMALL.index("[Li+]")
    for a, b in zip(alone.layers, batch.layers, strict=True):
        assert np.array_equal(np.asarray(a)[0], np.asarray(b)[i])
