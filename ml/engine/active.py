"""Active-learning selection: which unlabelled cases an expert should read next.

Every strategy takes what a model version already produced for the pool (class probabilities,
Monte Carlo dropout or ensemble samples, embeddings) as arrays and returns the picked pool
indices best first with their scores, so the platform can cache those arrays per model version
and select again without running the model. Torch does the arithmetic (vectorised, on the GPU
when the arrays are there); nothing here imports Django.

Strategies, by name (`STRATEGIES`):

- `random`: a seeded uniform draw, the baseline every other strategy is judged against.
- `least_confidence`, `margin`, `entropy`: uncertainty of the mean class probabilities.
- `bald`: mutual information between the prediction and the model (Houlsby et al. 2011) over
  `samples` (T x N x C): MC-dropout passes or the members of an ensemble.
- `coreset`: greedy k-center on embeddings (Sener & Savarese 2018): each pick is the pool case
  farthest from everything labelled or picked so far.
- `badge`: k-means++ seeding on gradient embeddings (Ash et al. 2020): uncertainty and diversity
  at once.

`balance_guard` reserves part of a batch for the cases most likely to belong to a rare class, so a
strategy cannot starve it (malignant cases are a few percent of a screening pool).
`exam_scores` aggregates image-level scores to the exam, and `segmentation_uncertainty` is the
documented score of segmentation models: mean binary entropy inside the predicted region.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

EPS = 1e-12


@dataclass(frozen=True)
class Selection:
    """The picks of one strategy: pool indices best first and the score that ranked each.

    Args:
        indices: positions in the pool, in pick order (rank 1 first).
        scores: the strategy's score of each pick (higher picked earlier; for core-set, the
            distance to the nearest labelled or earlier pick when it was chosen).
        strategy: the strategy's name.
    """

    indices: np.ndarray
    scores: np.ndarray
    strategy: str


def _tensor(values: Any, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    tensor = values if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))
    return tensor.to(dtype)


def _check_budget(budget: int, pool: int) -> int:
    if budget < 0:
        raise ValueError(f"the budget must be zero or more, not {budget}")
    return min(budget, pool)


def _top(scores: torch.Tensor, budget: int, strategy: str) -> Selection:
    budget = _check_budget(budget, scores.shape[0])
    values, order = torch.topk(scores, budget, sorted=True)
    return Selection(order.cpu().numpy(), values.float().cpu().numpy(), strategy)


# Uncertainty of the mean prediction (N x C probabilities): higher means less certain.
def least_confidence_scores(probabilities: Any) -> torch.Tensor:
    p = _tensor(probabilities)
    return 1.0 - p.max(dim=1).values


def margin_scores(probabilities: Any) -> torch.Tensor:
    p = _tensor(probabilities)
    top2 = torch.topk(p, 2, dim=1).values
    return 1.0 - (top2[:, 0] - top2[:, 1])


def entropy_scores(probabilities: Any) -> torch.Tensor:
    p = _tensor(probabilities).clamp_min(EPS)
    return -(p * p.log()).sum(dim=1)


def bald_scores(samples: Any) -> torch.Tensor:
    """Mutual information from T x N x C probability samples: entropy of the mean minus the mean
    entropy; high where the samples disagree, not where each one is merely unsure."""
    s = _tensor(samples).clamp_min(EPS)
    if s.dim() != 3:
        raise ValueError(f"BALD needs samples shaped T x N x C, not {tuple(s.shape)}")
    mean_entropy = -(s * s.log()).sum(dim=2).mean(dim=0)
    return entropy_scores(s.mean(dim=0)) - mean_entropy


UNCERTAINTY: dict[str, Callable[[Any], torch.Tensor]] = {
    "least_confidence": least_confidence_scores,
    "margin": margin_scores,
    "entropy": entropy_scores,
}


def random_selection(pool_size: int, budget: int, *, seed: int = 0) -> Selection:
    budget = _check_budget(budget, pool_size)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(pool_size, generator=generator)[:budget]
    return Selection(order.numpy(), np.zeros(budget, np.float32), "random")


def project(
    embeddings: torch.Tensor, dims: int, *, seed: int = 0, fit_rows: int = 20_000
) -> torch.Tensor:
    """The embeddings on their `dims` leading principal axes (centred), the axes fitted on at
    most `fit_rows` rows drawn at random: greedy k-center reads the pool once per pick, so fewer
    dimensions make each pick proportionally cheaper while the distances that decide the picks
    keep what those axes explain."""
    if embeddings.shape[1] <= dims:
        return embeddings
    generator = torch.Generator().manual_seed(seed)
    centred = embeddings - embeddings.mean(dim=0, keepdim=True)
    rows = centred
    if len(centred) > fit_rows:
        rows = centred[torch.randperm(len(centred), generator=generator)[:fit_rows]]
    torch.manual_seed(seed)
    # Fewer rows than axes (a small pool): its rows span at most that many, all of them kept.
    _, _, v = torch.pca_lowrank(rows, q=min(dims, len(rows)), center=False, niter=2)
    return centred @ v


def coreset_selection(
    embeddings: Any,
    budget: int,
    *,
    labelled: Any | None = None,
    dims: int | None = 64,
    seed: int = 0,
) -> Selection:
    """Greedy k-center: each pick is the pool case farthest from its nearest labelled case or
    earlier pick. Vectorised: one pass over the pool per pick keeps every case's distance to its
    nearest centre; with `dims`, distances are taken on that many principal axes (None: exact).

    Args:
        embeddings: N x D pool embeddings (float16 or float32).
        budget: how many to pick.
        labelled: M x D embeddings of the cases already labelled (may be empty or None).
        dims: principal axes to measure on (None keeps all D).
        seed: for the first pick when nothing is labelled, and the randomised PCA.
    """
    pool = _tensor(embeddings)
    n = pool.shape[0]
    budget = _check_budget(budget, n)
    known = None if labelled is None else _tensor(labelled)
    if dims is not None and pool.shape[1] > dims:
        both = pool if known is None or len(known) == 0 else torch.cat([pool, known])
        both = project(both, dims, seed=seed)
        pool, known = both[:n], (None if known is None or len(known) == 0 else both[n:])
    pool = pool.contiguous()
    norms = (pool * pool).sum(dim=1)
    nearest = torch.full((n,), float("inf"))
    if known is not None and len(known):
        for chunk in torch.split(known, 4096):
            d = norms[:, None] - 2 * pool @ chunk.T + (chunk * chunk).sum(dim=1)[None, :]
            nearest = torch.minimum(nearest, d.min(dim=1).values)
    picks = np.empty(budget, np.int64)
    scores = np.empty(budget, np.float32)
    nothing_known = known is None or len(known) == 0
    for i in range(budget):
        if i == 0 and nothing_known:
            generator = torch.Generator().manual_seed(seed)
            index, score = int(torch.randint(n, (1,), generator=generator)), float("inf")
        else:
            index = int(torch.argmax(nearest))
            score = float(nearest[index].clamp_min(0).sqrt())
        picks[i], scores[i] = index, score
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2, in one fused matrix-vector pass over the pool
        distance = torch.addmv(norms, pool, pool[index], alpha=-2.0).add_(norms[index])
        torch.minimum(nearest, distance, out=nearest)
        nearest[index] = -1.0  # never picked twice
    return Selection(picks, scores, "coreset")


def gradient_embeddings(probabilities: Any, embeddings: Any) -> torch.Tensor:
    """BADGE's hallucinated last-layer gradients: (p - onehot(argmax p)) outer embedding, whose
    norm grows with uncertainty and whose direction carries the case's features."""
    p = _tensor(probabilities)
    e = _tensor(embeddings)
    residual = p - torch.nn.functional.one_hot(p.argmax(dim=1), p.shape[1]).to(p.dtype)
    return (residual[:, :, None] * e[:, None, :]).reshape(p.shape[0], -1)


def badge_selection(
    probabilities: Any, embeddings: Any, budget: int, *, seed: int = 0
) -> Selection:
    """k-means++ seeding on gradient embeddings: the first pick has the largest gradient, each
    next one is drawn with probability proportional to its squared distance to the picks."""
    g = gradient_embeddings(probabilities, embeddings)
    n = g.shape[0]
    budget = _check_budget(budget, n)
    generator = torch.Generator().manual_seed(seed)
    norms = (g * g).sum(dim=1)
    picks = np.empty(budget, np.int64)
    scores = np.empty(budget, np.float32)
    nearest = torch.full((n,), float("inf"))
    chosen = torch.zeros(n, dtype=torch.bool)
    for i in range(budget):
        if i == 0:
            index = int(torch.argmax(norms))
        else:
            weights = nearest.clamp_min(0).masked_fill(chosen, 0)
            if float(weights.sum()) <= 0:
                weights = (~chosen).float()
            index = int(torch.multinomial(weights, 1, generator=generator))
        picks[i], scores[i] = index, float(norms[index].sqrt())
        chosen[index] = True
        distance = norms - 2 * (g @ g[index]) + norms[index]
        nearest = torch.minimum(nearest, distance)
    return Selection(picks, scores, "badge")


def balance_guard(
    selection: Selection,
    probabilities: Any,
    *,
    rare_class: int,
    share: float = 0.2,
) -> Selection:
    """At least `share` of the batch goes to the pool cases most likely to be of `rare_class`
    (highest predicted probability of it) that the strategy did not pick already; they replace
    the strategy's lowest-ranked picks, so the batch size is unchanged."""
    if not 0 <= share <= 1:
        raise ValueError(f"the rare-class share must lie in [0, 1], not {share}")
    p = _tensor(probabilities)
    budget = len(selection.indices)
    quota = int(np.ceil(share * budget))
    picked = set(selection.indices.tolist())
    predicted_rare = p.argmax(dim=1) == rare_class
    have = int(predicted_rare[torch.as_tensor(selection.indices, dtype=torch.long)].sum())
    if have >= quota or quota == 0:
        return selection
    order = torch.argsort(p[:, rare_class], descending=True).tolist()
    extra = [i for i in order if i not in picked][: quota - have]
    keep = budget - len(extra)
    indices = np.concatenate([selection.indices[:keep], np.asarray(extra, np.int64)])
    scores = np.concatenate(
        [selection.scores[:keep], p[extra, rare_class].numpy().astype(np.float32)]
    )
    return Selection(indices, scores, f"{selection.strategy}+balance")


def exam_scores(
    image_scores: Any, exam_of_image: Any, how: str = "max"
) -> tuple[np.ndarray, np.ndarray]:
    """Aggregate image-level scores to their exams (all views and images of an exam count):
    `max` (an exam is as uncertain as its most uncertain image) or `mean`. Returns the exam keys
    (sorted, as in `exam_of_image`) and their scores."""
    exams, inverse = np.unique(np.asarray(exam_of_image), return_inverse=True)
    scores = _tensor(image_scores)
    index = torch.as_tensor(inverse, dtype=torch.long)
    if how == "max":
        out = torch.full((len(exams),), float("-inf")).scatter_reduce(
            0, index, scores, reduce="amax"
        )
    elif how == "mean":
        out = torch.zeros(len(exams)).scatter_reduce(
            0, index, scores, reduce="mean", include_self=False
        )
    else:
        raise ValueError(f"unknown aggregation {how!r}: use 'max' or 'mean'")
    return exams, out.numpy()


def segmentation_uncertainty(probability_maps: Any, threshold: float = 0.5) -> torch.Tensor:
    """Mean binary entropy inside the predicted region (foreground probability >= threshold) of
    each map (N x H x W); a map with no predicted region scores the mean entropy of its whole
    image, so an empty but hesitant prediction still counts."""
    p = _tensor(probability_maps).clamp(EPS, 1 - EPS)
    entropy = -(p * p.log() + (1 - p) * (1 - p).log())
    region = (p >= threshold).flatten(1).float()
    flat = entropy.flatten(1)
    inside = (flat * region).sum(dim=1) / region.sum(dim=1).clamp_min(1)
    return torch.where(region.sum(dim=1) > 0, inside, flat.mean(dim=1))


def select(
    strategy: str,
    budget: int,
    *,
    probabilities: Any | None = None,
    samples: Any | None = None,
    embeddings: Any | None = None,
    labelled: Any | None = None,
    seed: int = 0,
) -> Selection:
    """Pick `budget` pool cases with the named strategy from what it needs (see STRATEGIES)."""
    needs = STRATEGIES.get(strategy)
    if needs is None:
        raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(sorted(STRATEGIES))}")
    given = {"probabilities": probabilities, "samples": samples, "embeddings": embeddings}
    missing = [name for name in needs if given[name] is None]
    if missing:
        raise ValueError(f"strategy {strategy!r} needs {', '.join(missing)}")
    if strategy == "random":
        size = next(len(v) for v in given.values() if v is not None)
        return random_selection(size, budget, seed=seed)
    if strategy in UNCERTAINTY:
        return _top(UNCERTAINTY[strategy](probabilities), budget, strategy)
    if strategy == "bald":
        return _top(bald_scores(samples), budget, strategy)
    if strategy == "coreset":
        return coreset_selection(embeddings, budget, labelled=labelled, seed=seed)
    return badge_selection(probabilities, embeddings, budget, seed=seed)


# What each strategy reads; `random` needs any one array to know the pool's size.
STRATEGIES: dict[str, tuple[str, ...]] = {
    "random": (),
    "least_confidence": ("probabilities",),
    "margin": ("probabilities",),
    "entropy": ("probabilities",),
    "bald": ("samples",),
    "coreset": ("embeddings",),
    "badge": ("probabilities", "embeddings"),
}
