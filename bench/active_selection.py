"""Active-learning selection speed: 1,000 core-set picks from a pool of cached embeddings.

    nice .venv/bin/python bench/active_selection.py [--pool 100000] [--dims 512] [--picks 1000]

Pool: N clustered float16 embeddings (what the platform caches per model version). Timed:
- ml.engine.active.coreset_selection (torch, one pass per pick on the 64 leading principal
  axes), the path the platform uses;
- the same search exact on all D dimensions (dims=None);
- baseline: a plain NumPy greedy k-center (float32, exact, the min-distance vector kept; the
  textbook loop), on the first `--baseline-picks` picks and scaled linearly to --picks (each
  pick costs the same pass over the pool).
Also: scoring and selecting a 10,000-case pool by entropy, BALD (20 samples) and BADGE.
Prints seconds, the ratio to the baseline, and how far the projected picks' covering radius is
from the exact one (the quantity greedy k-center minimises).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from ml.engine import active  # noqa: E402


def pool_of(n: int, dims: int, clusters: int = 50, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, (clusters, dims)).astype(np.float32)
    members = rng.integers(0, clusters, n)
    return (centres[members] + rng.normal(0, 1, (n, dims)).astype(np.float32)).astype(np.float16)


def numpy_greedy(pool: np.ndarray, picks: int) -> np.ndarray:
    x = pool.astype(np.float32)
    norms = (x * x).sum(axis=1)
    nearest = np.full(len(x), np.inf, np.float32)
    chosen = np.empty(picks, np.int64)
    index = 0
    for i in range(picks):
        chosen[i] = index
        nearest = np.minimum(nearest, norms - 2 * x @ x[index] + norms[index])
        index = int(np.argmax(nearest))
    return chosen


def covering_radius(pool: np.ndarray, chosen: np.ndarray, chunk: int = 20_000) -> float:
    x = torch.as_tensor(pool, dtype=torch.float32)
    c = x[torch.as_tensor(chosen)]
    worst = 0.0
    for part in torch.split(x, chunk):
        worst = max(worst, float(torch.cdist(part, c).min(dim=1).values.max()))
    return worst


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=512)
    parser.add_argument("--picks", type=int, default=1000)
    parser.add_argument("--baseline-picks", type=int, default=50)
    args = parser.parse_args()

    pool = pool_of(args.pool, args.dims)
    print(
        f"pool {args.pool} x {args.dims} float16, {args.picks} picks, "
        f"torch threads {torch.get_num_threads()}"
    )
    seconds, projected = timed(active.coreset_selection, pool, args.picks, dims=64)
    exact_seconds, exact = timed(active.coreset_selection, pool, args.picks, dims=None)
    part, _ = timed(numpy_greedy, pool, args.baseline_picks)
    baseline = part * args.picks / args.baseline_picks
    print(f"{'path':<44}{'seconds':>10}{'x baseline':>12}")
    print(f"{'baseline: NumPy greedy k-center (scaled)':<44}{baseline:>10.2f}{1.0:>12.2f}")
    print(
        f"{'core-set, exact (torch, 512-d)':<44}{exact_seconds:>10.2f}"
        f"{baseline / exact_seconds:>12.1f}"
    )
    print(
        f"{'core-set, 64 principal axes (platform)':<44}{seconds:>10.2f}{baseline / seconds:>12.1f}"
    )
    r_exact = covering_radius(pool, exact.indices)
    r_projected = covering_radius(pool, projected.indices)
    print(
        f"covering radius: exact {r_exact:.2f}, projected {r_projected:.2f} "
        f"({r_projected / r_exact:.3f}x)"
    )

    n = 10_000
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 2, (20, n, 2)).astype(np.float32)
    samples = torch.softmax(torch.as_tensor(logits), dim=2)
    embeddings = pool[:n]
    for name, kwargs in (
        ("entropy", {"probabilities": samples.mean(0)}),
        ("bald", {"samples": samples}),
        ("badge", {"probabilities": samples.mean(0), "embeddings": embeddings}),
        ("coreset", {"embeddings": embeddings}),
    ):
        took, _ = timed(active.select, name, 100, **kwargs)
        print(f"10,000-case pool, 100 picks by {name:<8} {took:>8.3f} s")


if __name__ == "__main__":
    main()
