"""An embedding does not depend on how many rows its batch gives the linear layers.

CPU matrix products take other kernels for inputs of few rows (on this machine's MKL: 1-3
rows at any thread count, and with 2 threads some positions of 5-11-row inputs), so
``[Li+]`` (one atom, no bond) embedded on its own differed from ``[Li+]`` embedded in a batch
of small molecules, and four or more two-atom molecules in one batch changed the bits of
some of them. That broke byte-identical tables between a cold run (all tasks' molecules
batched together) and a warm one whose cache was filled task by task.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch  # a core dependency: never skipped

SMALL = ["COCCl", "CCCCC", "COCCO", "OCCBr", "C=CCO", "OCCCl", "CN=NO", "CCC=O", "C=C=O",
         "C=COC", "CCOCC", "N#CCO", "[Li+]", "CCCCO", "OCCOC", "CC(C)C", "ClCCCl"]
TWO_ATOMS = ["CC", "CO", "C=C", "CN", "C#N", "C=O"]
SIX_ATOMS = ["CCCCCC", "CCCCCO", "OCCCCO", "CCOCCC", "CC(C)CC", "CCCCCN"]


@pytest.fixture
def threads():
    """Set torch's thread count inside a test; restored after."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


@pytest.mark.parametrize("n_threads", [1, 2, 4])
def test_linear_rows_equal_those_of_a_larger_batch_whatever_the_row_count(threads, n_threads):
    from molstrata.encoders._rows import min_rows

    threads(n_threads)
    torch.manual_seed(0)
    lin = torch.nn.Sequential(torch.nn.Linear(300, 200), torch.nn.Linear(200, 7))
    x = torch.randn(512, 300)
    with torch.inference_mode():
        ref = lin(x)
        with min_rows(lin):
            for m in range(1, 150):
                assert torch.equal(lin(x[:m]), ref[:m]), f"{m} rows, {n_threads} threads"
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


@pytest.mark.parametrize("n_threads", [1, 2])
def test_batches_of_tiny_molecules_embed_each_one_as_alone(threads, n_threads):
    """Batches of 2..6 two-atom (or six-atom) molecules: every molecule's every layer is
    byte-equal to its embedding alone (with 2 threads, the 4-row floor failed at 4-6 two-atom
    molecules)."""
    from molstrata.encoders import load_encoder

    threads(n_threads)
    enc = load_encoder("default")
    alone = {s: enc.embed([s]) for s in TWO_ATOMS + SIX_ATOMS}
    for group in (TWO_ATOMS, SIX_ATOMS):
        for k in range(2, len(group) + 1):
            batch = enc.embed(group[:k])
            for i, s in enumerate(group[:k]):
                for a, b in zip(alone[s].layers, batch.layers, strict=True):
                    assert np.array_equal(np.asarray(a)[0], np.asarray(b)[i]), (k, s)
