"""Multimodal fusion: the synthetic ablation table, the tabular branch on real data, time per case.

    nice .venv/bin/python bench/fusion.py [--train 1000] [--test 500] [--epochs 10] [--json F]
    nice .venv/bin/python bench/fusion.py --quick        # smoke run (35 s)

1. Synthetic ablation (`ml.engine.fusion.synthetic`, seeded): paired cases with all five
   modalities whose label is the majority of one hidden bit per modality, so one modality alone
   is capped at AUC 0.6875 and all five decide the label. Rows: each modality alone (a model
   that reads only it), each fusion strategy (all modalities, modality dropout 0.25), and the
   missing patterns (the --pattern-strategy model predicting without each modality, from each
   modality alone, and on test cases missing each modality with probability 0.3). AUC with a
   95% bootstrap interval; ratio against the baseline, the best single-modality model.
2. The tabular branch (`TabularEncoder` + the fusion head, clinical record alone) on the real
   Wisconsin diagnostic breast cancer data shipped with scikit-learn (569 cases, 30 numeric
   features, malignant = positive), stratified 5-fold cross-validation, against
   LogisticRegression (standardised) and GradientBoosting: out-of-fold AUC with its bootstrap
   interval, per-fold mean +- sd, ratio against logistic regression.
3. Time per case on this CPU: training (per case and epoch) and inference, the latter both as the
   bare forward pass (baseline) and as `predict` with ablation deltas. One torch thread by
   default (--threads): on a shared two-core machine more threads measured the neighbours.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402
from sklearn.ensemble import GradientBoostingClassifier  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.model_selection import StratifiedKFold  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from ml.engine.fusion import MODALITIES, STRATEGIES  # noqa: E402
from ml.engine.fusion.data import FusionData  # noqa: E402
from ml.engine.fusion.encoders import TabularSchema  # noqa: E402
from ml.engine.fusion.model import FusionModel, build_fusion_model  # noqa: E402
from ml.engine.fusion.synthetic import CLINICAL_SCHEMA, joint_signal_cases  # noqa: E402
from ml.engine.fusion.training import (  # noqa: E402
    auc_with_interval,
    predict_cases,
    train_fusion,
)

WIDTHS = (4, 8, 16, 32)
DIM = 16


def fitted(
    modalities, strategy: str, data: FusionData, args, dropout: float, schema=CLINICAL_SCHEMA
) -> tuple[FusionModel, float]:
    torch.manual_seed(args.seed)
    model = build_fusion_model(modalities, strategy, dim=DIM, schema=schema, widths=WIDTHS)
    start = time.perf_counter()
    train_fusion(model, data, epochs=args.epochs, dropout=dropout, seed=args.seed)
    return model, time.perf_counter() - start


def scored(model: FusionModel, data: FusionData, args) -> dict[str, Any]:
    prediction = predict_cases(model, data)
    return auc_with_interval(
        data.labels.numpy(), prediction.probabilities, n_boot=args.boot, seed=args.seed
    )


def row(name: str, result: dict[str, Any], baseline: float | None) -> str:
    ci = result["auc_ci"] or [float("nan")] * 2
    ratio = f"{result['auc'] / baseline:>8.2f}" if baseline else f"{'':>8}"
    return f"{name:<44}{result['n']:>6}{result['auc']:>8.3f}   [{ci[0]:.3f}, {ci[1]:.3f}]{ratio}"


def header() -> str:
    return f"{'row':<44}{'n':>6}{'AUC':>8}   {'95% bootstrap':<16}{'x base':>8}"


def synthetic_ablation(args) -> dict[str, Any]:
    modalities = tuple(args.modalities)
    common = {"modalities": modalities, "signal": modalities, "size": 16}
    train = joint_signal_cases(args.train, seed=args.seed, **common)
    test = joint_signal_cases(args.test, seed=args.seed + 100, **common)
    rows: dict[str, dict[str, Any]] = {}
    for m in modalities:
        model, _ = fitted([m], "concat", train.select([m]), args, dropout=0.0)
        rows[f"alone: {m}"] = scored(model, test.select([m]), args)
    baseline = max(r["auc"] for r in rows.values())
    models, seconds = {}, {}
    for strategy in args.strategies:
        models[strategy], seconds[strategy] = fitted(modalities, strategy, train, args, 0.25)
        rows[f"fusion: {strategy}"] = scored(models[strategy], test, args)
    pattern_model = models[args.pattern_strategy]
    for m in modalities:
        rows[f"{args.pattern_strategy} without {m}"] = scored(
            pattern_model, test.without([m]), args
        )
    for m in modalities:
        rows[f"{args.pattern_strategy} from {m} only"] = scored(pattern_model, test.only([m]), args)
    ragged = joint_signal_cases(
        args.test, seed=args.seed + 200, missing={m: 0.3 for m in modalities}, **common
    )
    rows[f"{args.pattern_strategy}, each missing w.p. 0.3"] = scored(pattern_model, ragged, args)
    print(
        f"\nsynthetic ablation: {args.train} training / {args.test} test cases, label = majority "
        f"of {len(modalities)} modality bits; baseline = best single modality (AUC {baseline:.3f})"
    )
    print(header())
    for name, result in rows.items():
        print(row(name, result, baseline))
    timing = time_per_case(pattern_model, test, seconds[args.pattern_strategy], args)
    return {
        "train": args.train,
        "test": args.test,
        "epochs": args.epochs,
        "modalities": modalities,
        "baseline_auc": baseline,
        "rows": rows,
        "train_seconds": seconds,
        "time_per_case": timing,
    }


def time_per_case(model: FusionModel, test: FusionData, train_seconds: float, args) -> dict:
    model.eval()
    batch = {k: v[:256] for k, v in test.inputs.items()}
    present = test.present[:256]
    n = len(present)
    with torch.no_grad():
        model(batch, present)  # warm-up
        start = time.perf_counter()
        for _ in range(args.repeats):
            model(batch, present)
        forward = (time.perf_counter() - start) / (args.repeats * n)
        start = time.perf_counter()
        for _ in range(args.repeats):
            model.predict(batch, present)
        predict = (time.perf_counter() - start) / (args.repeats * n)
    train = train_seconds / (args.train * args.epochs)
    print(
        f"\ntime per case ({args.pattern_strategy}, {len(model.modalities)} modalities, "
        f"{torch.get_num_threads()} threads): training {train * 1e3:.2f} ms per case and epoch; "
        f"inference: bare forward {forward * 1e3:.3f} ms (baseline), predict with ablation deltas "
        f"{predict * 1e3:.3f} ms ({predict / forward:.2f}x baseline)"
    )
    return {
        "train_ms_per_case_epoch": train * 1e3,
        "forward_ms": forward * 1e3,
        "predict_ms": predict * 1e3,
    }


def wisconsin(args) -> dict[str, Any]:
    data = load_breast_cancer()
    x = data.data.astype(np.float32)
    y = (data.target == 0).astype(int)  # scikit-learn codes malignant as 0
    schema = TabularSchema(numeric=tuple(data.feature_names))
    folds = StratifiedKFold(5, shuffle=True, random_state=args.seed)
    oof = {
        name: np.zeros(len(y))
        for name in ("tabular branch", "logistic regression", "gradient boosting")
    }
    per_fold: dict[str, list[float]] = {name: [] for name in oof}
    for train_index, test_index in folds.split(x, y):
        fold_train = FusionData(
            {"clinical": torch.from_numpy(x[train_index])},
            torch.ones(len(train_index), 1, dtype=torch.bool),
            torch.from_numpy(y[train_index]).float(),
            ("clinical",),
        )
        fold_test = FusionData(
            {"clinical": torch.from_numpy(x[test_index])},
            torch.ones(len(test_index), 1, dtype=torch.bool),
            torch.from_numpy(y[test_index]).float(),
            ("clinical",),
        )
        torch.manual_seed(args.seed)
        model = build_fusion_model(["clinical"], "concat", dim=DIM, schema=schema)
        train_fusion(
            model,
            fold_train,
            epochs=args.tabular_epochs,
            batch_size=32,
            lr=3e-3,
            dropout=0.0,
            flips=False,
            seed=args.seed,
        )
        oof["tabular branch"][test_index] = predict_cases(model, fold_test).probabilities
        lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        gb = GradientBoostingClassifier(random_state=args.seed)
        for name, estimator in (("logistic regression", lr), ("gradient boosting", gb)):
            estimator.fit(x[train_index], y[train_index])
            oof[name][test_index] = estimator.predict_proba(x[test_index])[:, 1]
        for name in oof:
            per_fold[name].append(float(roc_auc_score(y[test_index], oof[name][test_index])))
    results = {}
    base = float(roc_auc_score(y, oof["logistic regression"]))
    print(
        f"\nWisconsin diagnostic (scikit-learn, {len(y)} cases, {int(y.sum())} malignant), "
        f"stratified 5-fold; baseline = logistic regression"
    )
    print(header() + f"{'fold mean +- sd':>20}")
    for name, scores in oof.items():
        result = auc_with_interval(y, scores, n_boot=args.boot, seed=args.seed)
        result["fold_mean"] = float(np.mean(per_fold[name]))
        result["fold_sd"] = float(np.std(per_fold[name]))
        results[name] = result
        print(row(name, result, base) + f"{result['fold_mean']:>12.4f} +- {result['fold_sd']:.4f}")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--test", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--tabular-epochs", type=int, default=60)
    parser.add_argument("--modalities", nargs="+", default=list(MODALITIES))
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES))
    parser.add_argument("--pattern-strategy", default="attention")
    parser.add_argument("--boot", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke run")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    if args.quick:
        args.train, args.test, args.epochs, args.tabular_epochs = 120, 80, 2, 5
        args.boot, args.repeats = 50, 1
    torch.set_num_threads(args.threads)
    if args.pattern_strategy not in args.strategies:
        parser.error(f"--pattern-strategy {args.pattern_strategy!r} is not among --strategies")
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{platform.processor() or platform.machine()}, seed {args.seed}"
    )
    result = {"synthetic": synthetic_ablation(args), "wisconsin": wisconsin(args)}
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
