"""Model quality of every shipped recipe on the shared development sets, beside published figures.

Each data set is imported once (H2's importers, the published layouts) into a throw-away SQLite
database in a temporary SENOLAB_DATA_DIR; each recipe then runs the platform's own path:
snapshot (patient-level, stratified split 70/15/15) -> engine train -> registered ModelVersion.
Reported metrics are on that snapshot's held-out test split (patients never seen in training).

    nice .venv/bin/python bench/quality.py --quick            # minutes: few epochs, small inputs
    nice .venv/bin/python bench/quality.py                    # the recipes as shipped
    nice .venv/bin/python bench/quality.py --recipes breastmnist busi-malignancy --json out.json

Published figures: only /work/shared/data/breastmnist/PROVENANCE.md carries a table (Yang et
al., MedMNIST v2, Scientific Data 2023, official test split); the other figures shown come from
the recipe files' [published] notes and are not on our split, so they are context, not a match.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["SENOLAB_DATA_DIR"] = tempfile.mkdtemp(prefix="senolab-bench-quality-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "senolab.settings")
os.environ.pop("DATABASE_URL", None)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from ml.services.evaluation import FLAT_METRIC_KEYS  # noqa: E402

SHARED = Path(os.environ.get("SENOLAB_SHARED_DATA", ROOT.parent / "shared" / "data"))
DATASETS = {  # recipe prefix -> (importer format, path under the shared data)
    "mias": ("mini-mias", "mini-mias/all-mias"),
    "busi": ("busi", "busi/Dataset_BUSI_with_GT"),
    "breastmnist": ("medmnist", "breastmnist/breastmnist_trainval.npz"),
}
QUICK = {"epochs": 3, "batch_size": 16}
QUICK_MAX_SIDE = 64  # --quick shrinks larger inputs to this side (BreastMNIST stays 28)


def dataset_of(recipe: str) -> str:
    return next(k for k in DATASETS if recipe.startswith(k))


def import_once(projects: dict, key: str):
    from datasets.importers import import_dataset
    from senolab.imaging.pseudonyms import set_project_secret
    from senolab.projects.models import Project

    if key not in projects:
        fmt, rel = DATASETS[key]
        project = Project.objects.create(name=f"bench-{key}", slug=f"bench-{key}")
        # Pseudonyms are an HMAC under the project's secret, and the split orders patients by
        # pseudonym: a fixed secret here gives every run of this bench the same split, so
        # figures from two runs (or two versions of a recipe) are on the same test cases.
        set_project_secret(project, hashlib.sha256(f"bench-quality:{key}".encode()).hexdigest())
        started = time.perf_counter()
        report = import_dataset(project, fmt, SHARED / rel)
        print(
            f"# imported {key}: {len(getattr(report, 'images', []) or [])} images "
            f"in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        projects[key] = project
    return projects[key]


def train_one(project, recipe: str, overrides: dict) -> dict:
    from ml.engine.recipes import load_recipe
    from ml.models import ModelVersion
    from ml.services import training
    from senolab.jobs import services as jobs

    if overrides and max(load_recipe(recipe).input_size) > QUICK_MAX_SIDE:
        overrides = {**overrides, "input_size": [QUICK_MAX_SIDE, QUICK_MAX_SIDE]}
    run = training.start_training(project, recipe, enqueue=False, overrides=overrides)
    started = time.perf_counter()
    job = jobs.run_job(run.job_id, training.run_training, worker="bench")
    seconds = time.perf_counter() - started
    version = ModelVersion.objects.filter(training_run=run).first()
    if version is None:
        return {
            "recipe": recipe,
            "status": job.status,
            "message": job.message,
            "seconds": round(seconds),
        }
    m = version.metrics
    return {
        "recipe": recipe,
        "status": job.status,
        "seconds": round(seconds),
        "split": version.snapshot.summary if version.snapshot else {},
        **{k: m[k] for k in FLAT_METRIC_KEYS if m.get(k) is not None},
    }


def published(recipe: str) -> str:
    from ml.engine.recipes import load_recipe

    return str(load_recipe(recipe).published.get("source", "none found in shared/data"))


def fmt(row: dict) -> str:
    def f(key: str) -> str:
        value = row.get(key)
        if value is None:
            return "-"
        if key == "auc_ci":
            return f"[{value[0]:.3f}, {value[1]:.3f}]"
        if key == "froc":
            return json.dumps(value) if not isinstance(value, float) else f"{value:.3f}"
        return f"{value:.3f}" if isinstance(value, float) else str(value)

    return (
        f"| {row['recipe']} | {row['status']} | {row.get('seconds', '-')} | {f('n')} | "
        f"{f('auc')} {f('auc_ci')} | {f('sensitivity')} | {f('specificity')} | {f('accuracy')} | "
        f"{f('dice')} | {f('froc')} | {published(row['recipe'])} |"
    )


def main() -> None:
    from ml.services.engine import recipe_names_without_torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"override recipes with {QUICK}, inputs at most {QUICK_MAX_SIDE}",
    )
    parser.add_argument("--recipes", nargs="*", default=None)
    parser.add_argument("--json", help="write the rows here too")
    args = parser.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"shared data not found at {SHARED}")
    call_command("migrate", verbosity=0)
    names = args.recipes or recipe_names_without_torch()
    overrides = QUICK if args.quick else {}
    projects: dict = {}
    rows = []
    print(
        "| recipe | status | s | n | AUC [95% CI] | sens | spec | acc | Dice | FROC | published |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names:
        project = import_once(projects, dataset_of(name))
        row = train_one(project, name, overrides)
        rows.append(row)
        print(fmt(row), flush=True)
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {"quick": args.quick, "overrides": overrides, "rows": rows}, indent=2, default=str
            )
        )


if __name__ == "__main__":
    main()
