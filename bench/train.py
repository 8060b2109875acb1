"""Training throughput: the engine against a plain PyTorch loop over the same tensors and model.

Builds a synthetic ultrasound-like data set (in memory, as Cases), lets the engine read and
preprocess it once into its tensor cache, then times
  * the engine's training epochs (sampler, MONAI augmentation, mixed precision, channels_last,
    cancel checks) -> images/s per epoch, and epoch 2+ time;
  * a plain loop: the same network (fresh), optimizer, precision and memory format over the
    same cached tensors, no augmentation -> the pure compute time of an epoch.
Goals (issue 4): engine images/s >= 0.9 x plain; epoch 2+ <= 1.1 x pure compute.

    .venv/bin/python bench/train.py                      # CPU, ResNet-18 at 128x128
    python bench/train.py --device cuda --images 2048 --size 224 --batch 64
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.engine_common import result_header, sync  # noqa: E402
from ml.engine import api  # noqa: E402
from ml.engine.augment import make_augmenter  # noqa: E402
from ml.engine.synthetic import blob_cases  # noqa: E402


def plain_epoch(
    model, optimizer, images, labels, batch, dtype, channels_last, device, generator
) -> float:
    """The textbook loop: shuffle, slice, forward, loss, backward, step."""
    model.train()
    n = len(images)
    order = torch.randperm(n, generator=generator).to(device)
    sync(device)
    t0 = time.perf_counter()
    for start in range(0, n - 1, batch):
        idx = order[start : start + batch]
        x = images[idx].float()
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.float(), labels[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    sync(device)
    return time.perf_counter() - t0


def run(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    device = torch.device(args.device)
    recipe = api.load_recipe(args.recipe)
    recipe = dataclasses.replace(
        recipe,
        network=args.network,
        input_size=(args.size, args.size),
        batch_size=args.batch,
        epochs=args.epochs,
        patience=10**6,
        precision=args.precision,
        sampler="random",
    )
    if not args.augment:
        recipe = dataclasses.replace(
            recipe,
            augmentation=dataclasses.replace(
                recipe.augmentation, flip=0.0, rot90=0.0, scale=(1.0, 1.0), intensity=0.0
            ),
        )
    cases = blob_cases(args.images, size=args.raw_size, seed=0)
    pipe = api.make_pipeline(recipe, str(device))
    t0 = time.perf_counter()
    cache = pipe.cache(cases, labelled_only=True)
    sync(device)
    decode_s = time.perf_counter() - t0
    targets = pipe.targets(cache)

    model = pipe.network()
    optimizer = pipe.make_optimizer(model)
    loss_fn = pipe.make_loss(cache, targets)
    augmenter = make_augmenter(recipe, device, seed=0)
    generator = torch.Generator().manual_seed(0)
    plain_model = pipe.network()
    plain_opt = pipe.make_optimizer(plain_model)
    plain_gen = torch.Generator().manual_seed(0)
    checks = []
    engine_epochs, plain_epochs = [], []
    # Interleaved epochs: on a shared machine a burst of load hits both loops alike.
    for _ in range(args.epochs):
        sync(device)
        t = time.perf_counter()
        pipe.train_epoch(
            model,
            optimizer,
            loss_fn,
            cache,
            targets,
            augmenter,
            generator,
            should_stop=lambda: bool(checks.append(1)),
        )
        sync(device)
        engine_epochs.append(time.perf_counter() - t)
        plain_epochs.append(
            plain_epoch(
                plain_model,
                plain_opt,
                cache.images,
                cache.labels,
                args.batch,
                pipe.dtype,
                pipe.channels_last,
                device,
                plain_gen,
            )
        )
    n = len(cache)
    steady_engine = min(engine_epochs[1:]) if len(engine_epochs) > 1 else engine_epochs[0]
    steady_plain = min(plain_epochs[1:]) if len(plain_epochs) > 1 else plain_epochs[0]
    return {
        **result_header(device, args, n, pipe.dtype),
        "channels_last": pipe.channels_last,
        "augment": args.augment,
        "decode_once_s": round(decode_s, 2),
        "engine_epoch_s": [round(x, 3) for x in engine_epochs],
        "plain_epoch_s": [round(x, 3) for x in plain_epochs],
        "engine_images_per_s": round(n / steady_engine, 1),
        "plain_images_per_s": round(n / steady_plain, 1),
        "engine_vs_plain": round(steady_plain / steady_engine, 3),
        "epoch2_vs_pure_compute": round(engine_epochs[1] / steady_plain, 3)
        if len(engine_epochs) > 1
        else None,
        "first_epoch_incl_decode_vs_compute": round(
            (engine_epochs[0] + decode_s) / steady_plain, 3
        ),
    }


def train_recipe(args: argparse.Namespace) -> dict:
    """A whole api.train() of a shipped recipe (epochs capped) on synthetic cases."""
    import tempfile

    recipe = api.load_recipe(args.train_recipe)
    recipe = dataclasses.replace(recipe, epochs=min(recipe.epochs, args.epochs))
    cases = blob_cases(args.images, size=args.raw_size, seed=0, modality=recipe.modality)
    if recipe.task == "classification":
        values = list(recipe.label_values)
        cases = [
            dataclasses.replace(
                c, labels={recipe.label: values[-1] if c.labels["malignant"] else values[0]}
            )
            for c in cases
        ]
    splits = api.split_cases(cases, seed=0, stratify=recipe.label)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = api.train(recipe, splits, tmp, device=args.device)
    wall = time.perf_counter() - t0
    keys = ("n", "auc", "auc_ci", "sensitivity", "specificity", "accuracy", "dice", "froc")
    return {
        "recipe": recipe.name,
        "device": args.device,
        "wall_s": round(wall, 1),
        "epochs": len(result.history),
        "epoch_s": [h["seconds"] for h in result.history],
        "train_images_per_s": [h["images_per_second"] for h in result.history],
        "metrics": {k: result.metrics.get(k) for k in keys if k in result.metrics},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--recipe", default="busi-malignancy")
    parser.add_argument("--network", default="resnet18")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--raw-size", type=int, default=192)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--train-recipe",
        help="instead: a whole api.train() of this recipe "
        "on synthetic cases (epochs capped by --epochs)",
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    result = train_recipe(args) if args.train_recipe else run(args)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
