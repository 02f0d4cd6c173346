"""Throughput of all-layer embedding, measured side by side in one run.

A 6-block, 256-wide RoBERTa (random weights; speed does not depend on them) with an
atom-level SMILES tokenizer runs over the first N molecules of a TDC task (a realistic
length distribution). Every variant sees the same molecules; each is timed ``--repeats``
times, interleaved, and the minimum is kept. Both wall time and this process's CPU time
(``time.process_time``) are recorded: on a shared machine CPU time is the steadier figure
(use ``--threads 1`` there so it is not inflated by idle OpenMP spinning).

Variants
--------
embed          ``Encoder.embed``: every layer, one forward per batch, length-bucketed
bare_last      plain ``transformers``: same bucketed batches, tokenise + forward, returns only
               ``last_hidden_state`` (no hidden states, no pooling) -- the floor
per_layer      rerun the model once per layer, pooling only that layer (the naive loop);
               timed against ``embed`` on the first ``--n-per-layer`` molecules
unsorted       ``embed`` with batches in input order (no bucketing)
token_budget   ``embed`` with the default token budget instead of a fixed batch size
cache_cold     ``embed_cached`` into an empty cache (compute + write chunks)
cache_warm     ``embed_cached`` again (read + verify checksums)

Usage::

    MOLSTRATA_DATA_DIR=../shared/data nice -n 5 python benchmarks/embed_throughput.py \
        --n 2000 --task lipophilicity_astrazeneca --threads 1
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

REGEX = r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|\/|:|~|@|\?|>|\*|\$|\%[0-9]{2}|[0-9])"
SPECIAL = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def build_model(folder: Path, smiles: list[str], layers: int, hidden: int) -> None:
    import torch
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, RobertaConfig, RobertaModel

    counts = Counter(t for s in smiles for t in re.findall(REGEX, s))
    vocab = {t: i for i, t in enumerate(SPECIAL + sorted(counts))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex(REGEX), behavior="isolated")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
        unk_token="<unk>", mask_token="<mask>", model_max_length=512,
    )
    torch.manual_seed(0)
    cfg = RobertaConfig(
        vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=max(1, hidden // 64), intermediate_size=4 * hidden,
        max_position_embeddings=514, pad_token_id=1,
    )
    RobertaModel(cfg).eval().save_pretrained(folder)
    fast.save_pretrained(folder)


def bare_last(encoder, smiles: list[str], batch_size: int) -> None:
    """Plain transformers: tokenise + forward per bucketed batch, keep the last layer only."""
    import torch

    sizes = encoder._sizes(smiles)
    order = np.argsort(sizes, kind="stable")
    tok, model = encoder.tokenizer, encoder.model
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = [smiles[i] for i in order[start : start + batch_size]]
            enc = tok(batch, padding=True, truncation=True, max_length=encoder.max_length, return_tensors="pt")
            model(**enc).last_hidden_state.cpu()


def per_layer(encoder, smiles: list[str], batch_size: int) -> None:
    """Naive: one full pass over the data per layer, pooling only that layer."""
    import torch

    from molstrata.encoders.flow import iter_batches
    from molstrata.encoders.pooling import pool

    for k in range(encoder.num_layers + 1):
        for _, states in iter_batches(encoder, smiles, batch_size=batch_size):
            with torch.inference_mode():
                pool(states.hidden[k], states.mask, "mean").numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="lipophilicity_astrazeneca")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-per-layer", type=int, default=300,
                        help="molecules for the (slow) per-layer loop and its embed reference; 0 skips it")
    args = parser.parse_args()

    import pandas as pd
    import torch

    from molstrata.core.paths import env_data_dir
    from molstrata.data.smiles import parse_smiles
    from molstrata.embeddings import embed_cached
    from molstrata.encoders.flow import embed_canonical
    from molstrata.encoders.smiles.hf import load_hf

    torch.set_num_threads(args.threads)
    data = env_data_dir() or Path(__file__).resolve().parents[2] / "shared" / "data"
    frame = pd.read_csv(data / "admet_group" / args.task / "train_val.csv")
    smiles = list(parse_smiles(frame["Drug"].tolist()[: args.n], on_invalid="mask").canonical)
    smiles = [s for s in smiles if s]

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "model"
        build_model(folder, smiles, args.layers, args.hidden)
        enc = load_hf(str(folder), device="cpu")
        lengths = enc._sizes(smiles)
        print(
            f"{len(smiles)} molecules of {args.task}: tokens mean {lengths.mean():.1f}, "
            f"median {np.median(lengths):.0f}, max {lengths.max()}; model {args.layers} blocks x "
            f"{args.hidden}; batch {args.batch_size}; torch threads {args.threads}; "
            f"{os.cpu_count()} CPUs"
        )
        bs = args.batch_size
        few = smiles[: args.n_per_layer]
        runs = {
            "embed": lambda: enc.embed(smiles, batch_size=bs),
            "bare_last": lambda: bare_last(enc, smiles, bs),
            "unsorted": lambda: embed_canonical(enc, smiles, pooling="mean", batch_size=bs, sort=False),
            "token_budget": lambda: enc.embed(smiles),
        }
        if few:
            runs["embed_small"] = lambda: enc.embed(few, batch_size=bs)
            runs["per_layer_small"] = lambda: per_layer(enc, few, bs)
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in runs}
        enc.embed(smiles[:64], batch_size=bs)  # warm-up
        for _ in range(args.repeats):
            for name, fn in runs.items():
                times[name].append(_timed(fn))
        times["cache_cold"], times["cache_warm"] = [], []
        for r in range(args.repeats):
            cache = Path(tmp) / f"cache{r}"
            box: dict[str, object] = {}
            times["cache_cold"].append(_timed(lambda: box.update(a=embed_cached(enc, smiles, batch_size=bs, cache_dir=cache))))  # noqa: B023
            times["cache_warm"].append(_timed(lambda: box.update(b=embed_cached(enc, smiles, batch_size=bs, cache_dir=cache))))  # noqa: B023
            a, b = box["a"], box["b"]
            assert b.meta["cache"]["computed"] == 0
            assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))

    wall = {k: min(t[0] for t in v) for k, v in times.items()}
    cpu = {k: min(t[1] for t in v) for k, v in times.items()}
    print(f"\n{'variant':<16}{'wall s':>8}{'cpu s':>8}{'mol/s (cpu)':>13}   all runs wall/cpu (s)")
    for name in wall:
        n_mol = args.n_per_layer if name.endswith("_small") else len(smiles)
        runs_txt = ", ".join(f"{w:.1f}/{c:.1f}" for w, c in times[name])
        print(f"{name:<16}{wall[name]:>8.2f}{cpu[name]:>8.2f}{n_mol / cpu[name]:>13.0f}   {runs_txt}")

    def ratio(a: str, b: str) -> str:
        return f"{wall[a] / wall[b]:.2f}x wall, {cpu[a] / cpu[b]:.2f}x cpu"

    print("\nratios (best times)")
    print(f"  embed / bare_last              = {ratio('embed', 'bare_last')}   (target <= 1.10)")
    if "per_layer_small" in wall:
        print(f"  per_layer / embed ({args.n_per_layer} mol)   = {ratio('per_layer_small', 'embed_small')}"
              f"   (expect ~ n_layers + 1 = {args.layers + 1})")
    print(f"  unsorted / embed               = {ratio('unsorted', 'embed')}   (target >= 1.3)")
    print(f"  embed / token_budget           = {ratio('embed', 'token_budget')}")
    print(f"  cache_cold / cache_warm        = {ratio('cache_cold', 'cache_warm')}")


def _timed(fn) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) of one call."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - w0, time.process_time() - c0


if __name__ == "__main__":
    main()
