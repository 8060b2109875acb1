"""Exam-list latency: the REST API against a bare `.values()` + orjson view of the same page.

Builds a throw-away SQLite database (in a temporary SENOLAB_DATA_DIR) with 10,000 and then
100,000 exams (bulk_create: patients, one series and two images per exam, one slide every
hundred exams), and times GET /api/exams/ (page 1, a deep page, and a filtered page) through
Django's test client, in-process, so the figures are the server's cost without a network.
The baseline is a plain Django view behind the same middleware and session that returns the
same page (same rows, same fields, same counts, same ordering) from `.values()` serialised
with orjson: what a hand-tuned endpoint would cost. Requests alternate between the two so both
see the same load on a shared machine.

    nice .venv/bin/python bench/api.py               # 10k and 100k exams, 100 requests each
    nice .venv/bin/python bench/api.py --sizes 10000 --requests 50
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["SENOLAB_DATA_DIR"] = tempfile.mkdtemp(prefix="senolab-bench-api-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "senolab.settings")
os.environ.pop("DATABASE_URL", None)

import django  # noqa: E402

django.setup()

import orjson  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db.models import Count, IntegerField, OuterRef, Subquery  # noqa: E402
from django.db.models.functions import Coalesce  # noqa: E402
from django.http import HttpRequest, HttpResponse, JsonResponse  # noqa: E402
from django.test import Client, override_settings  # noqa: E402
from django.urls import include, path  # noqa: E402

from senolab.imaging.models import Exam, Image, Patient, Series, Slide  # noqa: E402
from senolab.projects.models import Membership, Project  # noqa: E402
from senolab.projects.permissions import filter_by_project  # noqa: E402

PAGE_SIZE = 50
FIELDS = [
    "id",
    "project",
    "patient",
    "accession",
    "study_date",
    "site",
    "modalities",
    "description",
    "status",
    "source",
    "created_at",
]


def _count(model: type, field: str = "exam") -> Coalesce:
    counted = (
        model.objects.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def baseline(request: HttpRequest) -> HttpResponse:
    """The same page as /api/exams/, by hand: values() and orjson, no DRF."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "login"}, status=401)
    qs = filter_by_project(Exam.objects.all(), request.user)
    for name in ("status", "site"):
        if request.GET.get(name):
            qs = qs.filter(**{name: request.GET[name]})
    page = int(request.GET.get("page", 1))
    rows = list(
        qs.annotate(image_count=_count(Image), slide_count=_count(Slide))
        .values(*FIELDS, "patient__pseudonym", "image_count", "slide_count")
        .order_by("-study_date", "id")[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    )
    for row in rows:
        row["patient_pseudonym"] = row.pop("patient__pseudonym")
    body = {"count": qs.count(), "next": None, "previous": None, "results": rows}
    return HttpResponse(orjson.dumps(body), content_type="application/json")


urlpatterns = [path("baseline/exams/", baseline), path("", include("senolab.urls"))]


def populate(project: Project, start: int, stop: int) -> None:
    """Exams start..stop-1 with their patients, series and images, in bulk."""
    batch = 5000
    for lo in range(start, stop, batch):
        hi = min(lo + batch, stop)
        patients = Patient.objects.bulk_create(
            [Patient(project=project, pseudonym=f"PSN-{i:07d}") for i in range(lo, hi)]
        )
        exams = Exam.objects.bulk_create(
            [
                Exam(
                    project=project,
                    patient=p,
                    study_uid=f"2.25.{i}",
                    site=f"site{i % 7}",
                    study_date=dt.date(2010, 1, 1) + dt.timedelta(days=i % 4000),
                    modalities=["MG"],
                    status=("new", "in_progress", "done")[i % 3],
                    source="bench",
                )
                for i, p in zip(range(lo, hi), patients, strict=True)
            ]
        )
        series = Series.objects.bulk_create(
            [
                Series(
                    project=project, exam=e, series_uid=f"2.25.{e.pk}.1", modality="MG", number=1
                )
                for e in exams
            ]
        )
        Image.objects.bulk_create(
            [
                Image(
                    project=project,
                    exam=s.exam,
                    series=s,
                    sop_instance_uid=f"2.25.{s.pk}.{k}",
                    modality="MG",
                    laterality="LR"[k],
                    view="CC",
                    rows=4096,
                    columns=3328,
                    bits_allocated=16,
                    bits_stored=12,
                    storage_key=f"k/{s.pk}/{k}",
                    sha256="0" * 64,
                    source_sha256=f"{s.pk}-{k}",
                )
                for s in series
                for k in range(2)
            ]
        )
        Slide.objects.bulk_create(
            [
                Slide(
                    project=project,
                    exam=e,
                    format="tiff",
                    width=1000,
                    height=1000,
                    storage_key=f"s/{e.pk}",
                    sha256="0" * 64,
                    source_sha256=f"s{e.pk}",
                )
                for e in exams
                if e.pk % 100 == 0
            ]
        )


def timed(client: Client, url: str) -> float:
    t0 = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - t0
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return elapsed


def measure(client: Client, query: str, requests: int) -> dict[str, list[float]]:
    """Alternate API and baseline requests; return their latencies (seconds)."""
    api_url, base_url = f"/api/exams/?{query}", f"/baseline/exams/?{query}"
    api_rows = client.get(api_url).json()
    base_rows = orjson.loads(client.get(base_url).content)
    # Both must return the same page, or the comparison means nothing.
    assert api_rows["count"] == base_rows["count"], query
    assert [r["id"] for r in api_rows["results"]] == [r["id"] for r in base_rows["results"]]
    for _ in range(3):
        timed(client, api_url), timed(client, base_url)
    times: dict[str, list[float]] = {"api": [], "baseline": []}
    for _ in range(requests):
        times["api"].append(timed(client, api_url))
        times["baseline"].append(timed(client, base_url))
    return times


def summary(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000, len(ordered) / sum(ordered)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--requests", type=int, default=100)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", password="bench-pass-123")
    project = Project.objects.create(name="Bench", slug="bench")
    Membership.objects.create(project=project, user=user, role="viewer")
    other = Project.objects.create(name="Other", slug="other")  # rows the filter must skip
    populate(other, 10_000_000, 10_000_000 + 1000)
    client = Client()
    client.force_login(user)
    rows = [
        (
            "exams",
            "query",
            "API p50 ms",
            "API p95 ms",
            "API req/s",
            "base p50 ms",
            "base p95 ms",
            "base req/s",
            "p50 ratio",
        )
    ]
    made = 0
    with override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"], DEBUG=False):
        for size in sorted(args.sizes):
            t0 = time.perf_counter()
            populate(project, made, size)
            made = size
            print(
                f"{size:,} exams in the database ({time.perf_counter() - t0:.0f} s to add)",
                flush=True,
            )
            deep = max(1, size // PAGE_SIZE // 2)
            for query in ("page=1", f"page={deep}", "status=done&site=site3"):
                times = measure(client, query, args.requests)
                api, base = summary(times["api"]), summary(times["baseline"])
                rows.append(
                    (
                        f"{size:,}",
                        query,
                        *(f"{v:.1f}" for v in api),
                        *(f"{v:.1f}" for v in base),
                        f"{api[0] / base[0]:.2f}x",
                    )
                )
                print("  ".join(rows[-1]), flush=True)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    print()
    for r in rows:
        print("  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)))
    print("\nratio = API p50 / baseline p50 (1.00x = as fast as the hand-written view)")


if __name__ == "__main__":
    main()
