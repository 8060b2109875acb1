"""Active learning simulated on the real data sets: labels each strategy needs, against random.

The ground truth plays the oracle. Per data set, a fixed stratified test split is put aside
(image level: each BUSI/BreastMNIST image is its own patient); the rest is the pool. Per seed, a
small random seed set (the same for every strategy) is labelled, then each strategy adds a batch
per round, chosen by `ml.engine.active` from what the model of the previous round says about the
unlabelled pool (class probabilities, MC-dropout samples, penultimate-layer embeddings taken with
a forward hook). Every round retrains from scratch through the recipe's pipeline (`Pipeline.fit`,
the loop `api.train` runs: its sampler, augmentation, loss, bf16 autocast and channels_last) with
the bench's small settings, and scores the fixed test split (AUC; Dice for segmentation, where
"entropy" is the mean entropy inside the predicted region and core-set reads the U-Net's
bottleneck features).

Reported per data set: for each strategy, the labels it needs to reach random's full-budget
score (mean curve over seeds), the area under its learning curve relative to random's, and the
final score mean +- sd over seeds; a PNG of the learning curves (mean +- sd band, drawn with
Pillow) and the numbers as JSON, under --out.

    nice .venv/bin/python bench/active_learning.py                  # BreastMNIST, 3 seeds
    nice .venv/bin/python bench/active_learning.py --quick          # smoke run (23 s)
    nice .venv/bin/python bench/active_learning.py --datasets busi-malignancy --seeds 0 1 2
    nice .venv/bin/python bench/active_learning.py --datasets busi-segmentation
    nice .venv/bin/python bench/active_learning.py --replot a/active_learning.json b/...json

BreastMNIST is BUSI resized to 28x28 (shared/data/breastmnist/PROVENANCE.md): its figures are
not independent of BUSI's.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from ml.engine import active, api  # noqa: E402
from ml.engine.cases import Case, ImageRef  # noqa: E402
from ml.engine.data import TensorCache  # noqa: E402
from ml.engine.pipelines import Pipeline  # noqa: E402
from ml.engine.recipes import Recipe  # noqa: E402

SHARED = Path(os.environ.get("SENOLAB_SHARED_DATA", ROOT.parent / "shared" / "data"))
DEFAULT_OUT = ROOT / "bench" / "results" / "active_learning"
# A small DenseNet with dropout: seconds per retraining on two cores, and MC dropout for BALD.
SMALL_NET = {"init_features": 16, "growth_rate": 12, "block_config": [2, 2, 2], "dropout_prob": 0.2}
# For two classes least confidence, margin and entropy rank the pool identically (each is a
# monotone function of the larger probability), so only entropy runs by default.
DEFAULT_STRATEGIES = ("random", "entropy", "bald", "coreset", "badge")


# --- data sets (read from their published layouts) -------------------------------------------


def _npz_image(images: np.ndarray, index: int) -> np.ndarray:
    return images[index]


def breastmnist_cases(root: Path) -> list[Case]:
    """Every image of the BreastMNIST npz (train and val; the official test split is not in
    shared/data). MedMNIST labels 0 = malignant, 1 = normal or benign."""
    path = root / "breastmnist" / "breastmnist_trainval.npz"
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    cases = []
    for split in ("train", "val", "test"):
        if f"{split}_images" not in arrays:
            continue
        images = arrays[f"{split}_images"]
        labels = arrays[f"{split}_labels"].reshape(len(images), -1)[:, 0]
        for i in range(len(images)):
            key = f"{split}-{i}"
            ref = ImageRef(key, "US", "U", "", functools.partial(_npz_image, images, i))
            cases.append(Case(key, key, (ref,), labels={"malignant": int(labels[i] == 0)}))
    return cases


BUSI_IMAGE = re.compile(r"^(benign|malignant|normal) \((\d+)\)\.png$", re.IGNORECASE)


def _png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("L"))


def _busi_mask(paths: tuple[Path, ...]) -> np.ndarray:
    masks = [_png(p) > 127 for p in paths]
    return np.logical_or.reduce(masks).astype(np.uint8)


def busi_cases(root: Path) -> list[Case]:
    """`Dataset_BUSI_with_GT/<class>/<class> (N).png` (grey or RGB) with its `_mask*.png`
    files; malignant 1, benign or normal 0; the union of the masks as the lesion."""
    folder = root / "busi" / "Dataset_BUSI_with_GT"
    cases = []
    for cls in ("benign", "malignant", "normal"):
        for path in sorted((folder / cls).glob("*.png")):
            if not BUSI_IMAGE.match(path.name):
                continue
            masks = tuple(sorted(path.parent.glob(f"{glob_escape(path.stem)}_mask*.png")))
            key = f"{cls}-{path.stem}"
            ref = ImageRef(
                key,
                "US",
                "U",
                "",
                functools.partial(_png, path),
                mask=functools.partial(_busi_mask, masks) if masks else None,
            )
            cases.append(Case(key, key, (ref,), labels={"malignant": int(cls == "malignant")}))
    return cases


def glob_escape(text: str) -> str:
    return re.sub(r"([\[\]?*])", r"[\1]", text)


@dataclass(frozen=True)
class Dataset:
    """A data set of the bench: how to read it and the recipe it trains with."""

    name: str
    recipe: str
    read: Callable[[Path], list[Case]]
    needs: str
    input_size: tuple[int, int]
    network: str = "densenet121"
    network_args: dict = field(default_factory=lambda: dict(SMALL_NET))


DATASETS = {
    "breastmnist": Dataset(
        "breastmnist",
        "breastmnist",
        breastmnist_cases,
        "breastmnist/breastmnist_trainval.npz",
        (28, 28),
    ),
    "busi-segmentation": Dataset(
        "busi-segmentation",
        "busi-segmentation",
        busi_cases,
        "busi/Dataset_BUSI_with_GT",
        (48, 48),
        "unet",
        {"channels": [8, 16, 32, 64], "num_res_units": 1},
    ),
    "busi-malignancy": Dataset(
        "busi-malignancy", "busi-malignancy", busi_cases, "busi/Dataset_BUSI_with_GT", (48, 48)
    ),
}


# --- the loop ----------------------------------------------------------------------------------


def subset(cache: TensorCache, indices) -> TensorCache:
    """The cached samples at `indices` (no re-decoding)."""
    idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
    return TensorCache(
        cache.images[idx.to(cache.images.device)],
        [cache.samples[i] for i in idx.tolist()],
        cache.cases,
        None if cache.masks is None else cache.masks[idx],
        None if cache.labels is None else cache.labels[idx],
    )


def class_labels(cache: TensorCache) -> np.ndarray:
    """The class index of every cached sample, or for segmentation whether its mask holds a
    lesion: the strata of the test split and of the seed sets."""
    if cache.labels is not None:
        return cache.labels.cpu().numpy()
    if cache.masks is None:
        raise ValueError("the cache holds neither labels nor masks")
    return (cache.masks.flatten(1).amax(dim=1) > 0).long().cpu().numpy()


def fixed_split(
    labels: np.ndarray, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(pool, test) positions, the test split stratified by class and the same for every run."""
    rng = np.random.default_rng(seed)
    test = []
    for value in np.unique(labels):
        members = np.flatnonzero(labels == value)
        rng.shuffle(members)
        test.extend(members[: int(round(test_fraction * len(members)))].tolist())
    test_idx = np.sort(np.asarray(test, np.int64))
    return np.setdiff1d(np.arange(len(labels)), test_idx), test_idx


def seed_set(pool: np.ndarray, labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    """A random seed set of `size` pool positions holding each class at least once (a model
    cannot be trained on one class); the same for every strategy of a seed."""
    rng = np.random.default_rng(10_000 + seed)
    while True:
        picked = rng.choice(pool, size=size, replace=False)
        if len(np.unique(labels[picked])) == len(np.unique(labels[pool])):
            return np.sort(picked)


@dataclass
class Curve:
    """One strategy's run for one seed: labels used and test score per round, and its picks."""

    strategy: str
    seed: int
    labels: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    picks: list[list[int]] = field(default_factory=list)
    seconds: float = 0.0


def last_linear(model: nn.Module) -> nn.Linear:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("the network has no linear head to take embeddings from")
    return linears[-1]


@torch.no_grad()
def pool_outputs(
    pipe: Pipeline, model: nn.Module, cache: TensorCache, mc_samples: int
) -> dict[str, torch.Tensor | None]:
    """Class probabilities, penultimate embeddings (the input of the last linear layer, caught
    by a forward hook) and, when the network has dropout, MC-dropout probability samples."""
    if pipe.task == "segmentation":
        return segmentation_outputs(pipe, model, cache)
    captured: list[torch.Tensor] = []
    hook = last_linear(model).register_forward_pre_hook(
        lambda _m, args: captured.append(args[0].detach().float().cpu())
    )
    try:
        logits = pipe.infer(model, cache)
    finally:
        hook.remove()
    out: dict[str, torch.Tensor | None] = {
        "probabilities": torch.softmax(logits, dim=1),
        "embeddings": torch.cat(captured) if captured else None,
        "samples": None,
    }
    dropouts = [
        m for m in model.modules() if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0
    ]
    if dropouts and mc_samples > 0:
        # BatchNorm stays in eval mode; only the dropout layers sample
        for m in dropouts:
            m.train()
        try:
            out["samples"] = torch.stack(
                [torch.softmax(_forward(pipe, model, cache), dim=1) for _ in range(mc_samples)]
            )
        finally:
            model.eval()
    return out


@torch.no_grad()
def segmentation_outputs(
    pipe: Pipeline, model: nn.Module, cache: TensorCache
) -> dict[str, torch.Tensor | None]:
    """Per image: the documented segmentation uncertainty (mean entropy inside the predicted
    region, `active.segmentation_uncertainty`) and an embedding, the average-pooled output of
    the network's coarsest convolution (a U-Net's bottleneck), caught by forward hooks."""
    pooled: dict[str, list[torch.Tensor]] = {}
    sizes: dict[str, int] = {}

    def keep(name: str):
        def hook(_m, _args, output):
            if isinstance(output, torch.Tensor) and output.dim() == 4:
                sizes[name] = output.shape[-1] * output.shape[-2]
                pooled.setdefault(name, []).append(output.float().mean(dim=(2, 3)).cpu())

        return hook

    hooks = [
        m.register_forward_hook(keep(name))
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d)
    ]
    try:
        logits = pipe.infer(model, cache)
    finally:
        for h in hooks:
            h.remove()
    coarsest = min(sizes, key=lambda n: (sizes[n], -list(sizes).index(n)))
    return {
        "probabilities": None,
        "samples": None,
        "embeddings": torch.cat(pooled[coarsest]),
        "uncertainty": active.segmentation_uncertainty(torch.sigmoid(logits[:, 0])),
    }


def _forward(pipe: Pipeline, model: nn.Module, cache: TensorCache) -> torch.Tensor:
    outs = []
    for start in range(0, len(cache), 256):
        with pipe.autocast():
            outs.append(model(pipe._input(cache.images[start : start + 256])).float().cpu())
    return torch.cat(outs)


def train_round(
    pipe: Pipeline, cache: TensorCache, labelled: np.ndarray, seed: int, min_steps: int
) -> nn.Module:
    """A fresh network trained on the labelled positions with the recipe's loop; small sets
    get more epochs, so every round takes at least `min_steps` optimiser steps."""
    recipe = pipe.recipe
    steps_per_epoch = max(math.ceil(len(labelled) / recipe.batch_size), 1)
    epochs = max(recipe.epochs, math.ceil(min_steps / steps_per_epoch))
    pipe.recipe = dataclasses.replace(recipe, epochs=epochs, seed=seed, patience=epochs + 1)
    try:
        torch.manual_seed(seed)
        model = pipe.network()
        pipe.fit(model, subset(cache, labelled), subset(cache, []))
    finally:
        pipe.recipe = recipe
    return model


def test_score(pipe: Pipeline, model: nn.Module, test: TensorCache) -> float:
    metrics = pipe.evaluate_outputs(test, pipe.infer(model, test), n_boot=0)
    value = metrics.get(pipe.recipe.select_metric)
    return float("nan") if value is None else float(value)


def choose(
    strategy: str,
    outputs: dict[str, torch.Tensor | None],
    unlabelled: np.ndarray,
    labelled: np.ndarray,
    budget: int,
    seed: int,
    rare_class: int,
) -> np.ndarray:
    """Pool positions picked by `strategy` (a name of ml.engine.active, optionally with
    "+balance" for the rare-class guard) among the unlabelled ones."""
    name, _, guard = strategy.partition("+")

    def rows(key: str, where: np.ndarray) -> torch.Tensor | None:
        value = outputs.get(key)
        if value is None:
            return None
        return value[:, where] if key == "samples" else value[where]

    uncertainty = rows("uncertainty", unlabelled)
    if name == "entropy" and uncertainty is not None:  # segmentation: entropy in the region
        return unlabelled[torch.topk(uncertainty, budget).indices.numpy()]
    selection = active.select(
        name,
        budget,
        probabilities=rows("probabilities", unlabelled),
        samples=rows("samples", unlabelled),
        embeddings=rows("embeddings", unlabelled),
        labelled=rows("embeddings", labelled),
        seed=seed,
    )
    if guard == "balance":
        selection = active.balance_guard(
            selection, rows("probabilities", unlabelled), rare_class=rare_class
        )
    return unlabelled[selection.indices]


def simulate(
    pipe: Pipeline,
    cache: TensorCache,
    *,
    pool: np.ndarray,
    test: np.ndarray,
    start: np.ndarray,
    strategy: str,
    seed: int,
    batch: int,
    rounds: int,
    min_steps: int = 100,
    mc_samples: int = 10,
    first: tuple[nn.Module, float] | None = None,
    log: Callable[[str], None] | None = None,
) -> Curve:
    """One strategy's loop for one seed: train on `start`, then `rounds` times pick `batch`
    pool positions with the strategy, add them (the oracle labels them) and retrain.

    Args:
        pipe: the recipe's pipeline; `cache` holds every position (pool and test) decoded once.
        pool, test: positions in the cache; picks come from `pool` only.
        start: the seed set (pool positions).
        first: the model trained on `start` and its score, when already trained for this seed
            (every strategy of a seed starts from the same model).
    """
    curve = Curve(strategy, seed)
    started = time.perf_counter()
    test_cache = subset(cache, test)
    pool_set = set(pool.tolist())
    labelled = np.sort(np.asarray(start, np.int64))
    rare_class = int(np.argmin(np.bincount(class_labels(cache)[pool]))) if len(pool) else 0
    for round_index in range(rounds + 1):
        if round_index == 0 and first is not None:
            model, score = first
        else:
            model = train_round(pipe, cache, labelled, seed, min_steps)
            score = test_score(pipe, model, test_cache)
        curve.labels.append(len(labelled))
        curve.scores.append(score)
        if log is not None:
            log(f"{strategy} seed {seed}: {len(labelled)} labels -> {score:.3f}")
        if round_index == rounds:
            break
        unlabelled = np.asarray(sorted(pool_set - set(labelled.tolist())), np.int64)
        if len(unlabelled) == 0:
            break
        outputs = pool_outputs(pipe, model, cache, mc_samples if "bald" in strategy else 0)
        picks = choose(
            strategy,
            outputs,
            unlabelled,
            labelled,
            min(batch, len(unlabelled)),
            seed * 1000 + round_index,
            rare_class,
        )
        curve.picks.append(picks.tolist())
        labelled = np.sort(np.concatenate([labelled, picks]))
    curve.seconds = round(time.perf_counter() - started, 1)
    return curve


# --- summaries ---------------------------------------------------------------------------------


def mean_curve(curves: list[Curve]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, mean score, sd score) over seeds; curves of one strategy share their x."""
    n = min(len(c.scores) for c in curves)
    x = np.asarray(curves[0].labels[:n], float)
    y = np.asarray([c.scores[:n] for c in curves], float)
    return x, y.mean(axis=0), y.std(axis=0, ddof=1) if len(curves) > 1 else np.zeros(n)


def labels_to_reach(x: np.ndarray, y: np.ndarray, target: float) -> float | None:
    """The first number of labels at which the mean curve reaches `target` (linear
    interpolation between rounds), or None."""
    for i, value in enumerate(y):
        if value >= target:
            if i == 0:
                return float(x[0])
            x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
            return float(x0 + (x1 - x0) * (target - y0) / max(y1 - y0, 1e-12))
    return None


def summarise(curves: dict[str, list[Curve]], baseline: str = "random") -> dict[str, dict]:
    """Per strategy: labels to reach the baseline's full-budget mean score (and as a share of
    the baseline's budget), area under the mean curve / the baseline's, final mean +- sd."""
    bx, by, _ = mean_curve(curves[baseline])
    target, budget = float(by[-1]), float(bx[-1])
    base_area = float(np.trapezoid(by, bx))
    out = {}
    for name, runs in curves.items():
        x, y, sd = mean_curve(runs)
        finals = [c.scores[len(x) - 1] for c in runs]
        reach = labels_to_reach(x, y, target)
        out[name] = {
            "labels": x.tolist(),
            "mean": y.tolist(),
            "sd": sd.tolist(),
            "labels_to_reach_random_final": reach,
            "share_of_random_budget": None if reach is None else reach / budget,
            "area_vs_random": float(np.trapezoid(y, x)) / base_area,
            "final_mean": float(np.mean(finals)),
            "final_sd": float(np.std(finals, ddof=1)) if len(finals) > 1 else 0.0,
            "seeds": [c.seed for c in runs],
            "seconds": round(sum(c.seconds for c in runs), 1),
        }
    return out


def table(name: str, metric: str, summary: dict[str, dict]) -> str:
    target = summary["random"]["mean"][-1]
    budget = summary["random"]["labels"][-1]
    lines = [
        f"### {name}: random reaches {metric} {target:.3f} with {budget:.0f} labels",
        "",
        f"| strategy | labels to reach random's final {metric} | share of random's budget "
        f"| area under curve / random | final {metric} mean +- sd |",
        "|---|---|---|---|---|",
    ]
    for strategy, row in summary.items():
        reach, share = row["labels_to_reach_random_final"], row["share_of_random_budget"]
        lines.append(
            f"| {strategy} | {'not reached' if reach is None else f'{reach:.0f}'} | "
            f"{'-' if share is None else f'{share:.0%}'} | "
            f"{row['area_vs_random']:.3f} | {row['final_mean']:.3f} +- {row['final_sd']:.3f} |"
        )
    return "\n".join(lines)


COLOURS = ["#222222", "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]


def plot(results: dict[str, dict], path: Path) -> str:
    """Learning curves with their spread (mean +- sd band), one panel per data set, drawn with
    Pillow (matplotlib is not among the project's requirements)."""
    from PIL import Image, ImageDraw

    width, height, left, right, top, bottom = 640, 440, 60, 150, 36, 46
    canvas = Image.new("RGB", (width * len(results), height), "white")
    for panel, (name, result) in enumerate(results.items()):
        layer = Image.new("RGBA", (width, height), (255, 255, 255, 255))
        draw = ImageDraw.Draw(layer)
        rows = result["summary"]
        xs = [x for r in rows.values() for x in r["labels"]]
        lows = [m - s for r in rows.values() for m, s in zip(r["mean"], r["sd"], strict=True)]
        highs = [m + s for r in rows.values() for m, s in zip(r["mean"], r["sd"], strict=True)]
        x0, x1 = min(xs), max(xs)
        y0, y1 = math.floor(min(lows) * 20) / 20, math.ceil(max(highs) * 20) / 20

        def at(x: float, y: float, box=(x0, x1, y0, y1)) -> tuple[float, float]:
            px = left + (x - box[0]) / max(box[1] - box[0], 1e-9) * (width - left - right)
            py = (
                height
                - bottom
                - (y - box[2]) / max(box[3] - box[2], 1e-9) * (height - top - bottom)
            )
            return px, py

        for tick in np.arange(y0, y1 + 1e-9, 0.05):
            _, py = at(x0, tick)
            draw.line([(left, py), (width - right, py)], fill=(225, 225, 225, 255))
            draw.text((8, py - 6), f"{tick:.2f}", fill="black")
        for tick in rows["random"]["labels"]:
            px, _ = at(tick, y0)
            draw.text((px - 8, height - bottom + 6), f"{tick:.0f}", fill="black")
        draw.rectangle([left, top, width - right, height - bottom], outline="black")
        target = rows["random"]["mean"][-1]  # the score the other strategies are timed to
        _, ty = at(x0, target)
        for dash in np.arange(left, width - right, 12):
            draw.line([(dash, ty), (min(dash + 6, width - right), ty)], fill=(90, 90, 90, 255))
        for i, (strategy, row) in enumerate(rows.items()):
            colour = COLOURS[i % len(COLOURS)]
            rgb = tuple(int(colour[k : k + 2], 16) for k in (1, 3, 5))
            upper = [
                at(x, m + s) for x, m, s in zip(row["labels"], row["mean"], row["sd"], strict=True)
            ]
            lower = [
                at(x, m - s) for x, m, s in zip(row["labels"], row["mean"], row["sd"], strict=True)
            ]
            band = Image.new("RGBA", (width, height), (255, 255, 255, 0))
            ImageDraw.Draw(band).polygon(upper + lower[::-1], fill=(*rgb, 40))
            layer = Image.alpha_composite(layer, band)
            draw = ImageDraw.Draw(layer)
            line = [at(x, m) for x, m in zip(row["labels"], row["mean"], strict=True)]
            draw.line(line, fill=(*rgb, 255), width=3 if strategy == "random" else 2)
            for px, py in line:
                draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=(*rgb, 255))
            ly = top + 10 + 18 * i
            draw.line(
                [(width - right + 10, ly), (width - right + 30, ly)], fill=(*rgb, 255), width=3
            )
            draw.text((width - right + 36, ly - 6), strategy, fill="black")
        draw.text(
            (left, 10),
            f"{name}: test {result['metric']} (n={result['test_size']}), mean +- sd of "
            f"{len(result['seeds'])} seeds",
            fill="black",
        )
        draw.text((left + 150, height - 20), "labelled images", fill="black")
        canvas.paste(layer.convert("RGB"), (panel * width, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas.save(path)
    return f"wrote {path}"


# --- running -----------------------------------------------------------------------------------


def bench_recipe(dataset: Dataset, args: argparse.Namespace) -> Recipe:
    """The data set's shipped recipe with the bench's small settings (network, size, epochs)."""
    recipe = api.load_recipe(dataset.recipe)
    return dataclasses.replace(
        recipe,
        network=args.network or dataset.network,
        network_args={} if args.network else dataset.network_args,
        input_size=dataset.input_size if args.size is None else (args.size, args.size),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        milestones=(),
        precision=args.precision,
    )


def run_dataset(dataset: Dataset, args: argparse.Namespace) -> dict | str:
    if not (SHARED / dataset.needs).exists():
        return f"skipped: {SHARED / dataset.needs} not found (set SENOLAB_SHARED_DATA)"
    recipe = bench_recipe(dataset, args)
    pipe = api.make_pipeline(recipe, "cpu")
    t0 = time.perf_counter()
    cases = dataset.read(SHARED)
    if recipe.task == "segmentation":
        # the ground truth is the mask (empty on normal images); an image without one has none
        cases = [c for c in cases if any(im.mask is not None for im in c.images)]
    cache = pipe.cache(cases, labelled_only=True)
    labels = class_labels(cache)
    print(f"# {dataset.name}: {len(cache)} images decoded in {time.perf_counter() - t0:.0f} s")
    pool, test = fixed_split(labels, args.test_fraction, seed=12345)
    start_size = max(int(round(args.seed_fraction * len(pool))), 4)
    batch = args.batch or start_size
    curves: dict[str, list[Curve]] = {s: [] for s in args.strategies}
    for seed in args.seeds:
        start = seed_set(pool, labels, start_size, seed)
        first_model = train_round(pipe, cache, start, seed, args.min_steps)
        first = (first_model, test_score(pipe, first_model, subset(cache, test)))
        for strategy in args.strategies:
            if strategy.startswith("bald") and not any(
                isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0
                for m in first_model.modules()
            ):
                print(f"# {strategy} skipped: {recipe.network} has no dropout")
                continue
            if strategy.startswith("badge") and recipe.task != "classification":
                print(f"# {strategy} skipped: it needs class probabilities ({recipe.task})")
                continue
            curve = simulate(
                pipe,
                cache,
                pool=pool,
                test=test,
                start=start,
                strategy=strategy,
                seed=seed,
                batch=batch,
                rounds=args.rounds,
                min_steps=args.min_steps,
                mc_samples=args.mc_samples,
                first=first,
                log=(lambda m: print(f"#   {m}", flush=True)) if args.verbose else None,
            )
            curves[strategy].append(curve)
            print(
                f"# {dataset.name} seed {seed} {strategy}: final {recipe.select_metric} "
                f"{curve.scores[-1]:.3f} ({curve.seconds:.0f} s)",
                flush=True,
            )
    curves = {k: v for k, v in curves.items() if v}
    summary = summarise(curves)
    return {
        "recipe": recipe.name,
        "network": recipe.network,
        "input_size": list(recipe.input_size),
        "metric": recipe.select_metric,
        "pool_size": len(pool),
        "test_size": len(test),
        "test_positives": int(labels[test].sum()),
        "seed_set": start_size,
        "batch": batch,
        "rounds": args.rounds,
        "seeds": list(args.seeds),
        "summary": summary,
        "curves": {k: [dataclasses.asdict(c) for c in v] for k, v in curves.items()},
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["breastmnist"], choices=list(DATASETS))
    parser.add_argument("--strategies", nargs="+", default=list(DEFAULT_STRATEGIES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--seed-fraction", type=float, default=0.05)
    parser.add_argument("--batch", type=int, help="picks per round (default: the seed set's size)")
    parser.add_argument("--test-fraction", type=float, default=0.25)
    parser.add_argument("--network", help="instead of the data set's small network")
    parser.add_argument("--size", type=int, help="input side (default: per data set)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--min-steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--mc-samples", type=int, default=10)
    parser.add_argument("--precision", default="auto")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads; one is fastest for this small net on shared cores (two threads "
        "on two busy cores took 10x longer per retraining)",
    )
    parser.add_argument("--quick", action="store_true", help="2 seeds, 3 rounds, fewer steps")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--replot",
        nargs="+",
        type=Path,
        help="draw the PNG again from these JSON files of earlier runs (merged), run nothing",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG and JSON go here")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.rounds, args.min_steps, args.epochs = args.seeds[:2], 3, 40, 5
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    if args.replot:
        merged = {k: v for path in args.replot for k, v in json.loads(path.read_text()).items()}
        print(plot(merged, args.out / "active_learning.png"))
        return
    torch.set_num_threads(args.threads)
    results: dict[str, dict] = {}
    for name in args.datasets:
        result = run_dataset(DATASETS[name], args)
        if isinstance(result, str):
            print(f"# {name} {result}")
            continue
        results[name] = result
        print(table(name, result["metric"], result["summary"]))
        print()
    if not results:
        return
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "active_learning.json").write_text(json.dumps(results, indent=1))
    print(plot(results, args.out / "active_learning.png"))
    print(f"wrote {args.out / 'active_learning.json'}")


if __name__ == "__main__":
    main()
