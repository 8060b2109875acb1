"""Who may do what in the API: one declared table, read by the permission-matrix test
(tests/security/test_permission_matrix.py) and rendered into docs/security.md.

A rule matches an operation by HTTP method and path template. Templates are written as the
OpenAPI schema writes paths, with `{}` standing for any one path parameter, `*` for any text
inside one segment and `**` for any rest of the path. The first matching rule wins, so specific
rules come before the family defaults of their resource. An operation that no rule matches
fails the matrix test: a new endpoint needs a row here before it can land.

Access levels:
- public: anyone, logged in or not.
- authenticated: any logged-in user; what it returns is filtered to the user's projects.
- viewer / annotator / reviewer / owner: the minimum role in the project the operation acts on
  (the object in the path, or the project/exam named in the query or body). A user who is not a
  member of that project gets 404 (nothing about it exists for them), a member below the role
  gets 403. Staff count as owners of every project.
- staff: staff users only.
- signed: the holder of a URL the server signed for one user and one object, until it expires
  (slide tiles, senolab.imaging.tiles); the user's viewer role is checked again each minute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

READ = ("GET", "HEAD")
WRITE = ("POST", "PUT", "PATCH", "DELETE")
ANY = READ + WRITE

PUBLIC = "public"
AUTHENTICATED = "authenticated"
VIEWER = "viewer"
ANNOTATOR = "annotator"
REVIEWER = "reviewer"
OWNER = "owner"
STAFF = "staff"
SIGNED = "signed"
ACCESS_LEVELS = (PUBLIC, AUTHENTICATED, VIEWER, ANNOTATOR, REVIEWER, OWNER, STAFF, SIGNED)
PROJECT_ROLES = (VIEWER, ANNOTATOR, REVIEWER, OWNER)


@dataclass(frozen=True)
class Rule:
    """One row of the policy: these methods on paths like this need this access."""

    methods: tuple[str, ...]
    pattern: str
    access: str
    why: str = ""

    def __post_init__(self) -> None:
        if self.access not in ACCESS_LEVELS:
            raise ValueError(f"unknown access level {self.access!r} in rule {self.pattern}")

    @cached_property
    def regex(self) -> re.Pattern[str]:
        parts = re.split(r"(\{\}|\*\*|\*)", self.pattern)
        tokens = {"{}": r"\{\}", "**": r".*", "*": r"[^/]*"}
        return re.compile("".join(tokens.get(p, re.escape(p)) for p in parts) + "$")

    def matches(self, method: str, template: str) -> bool:
        return method.upper() in self.methods and bool(self.regex.match(canonical(template)))


def canonical(template: str) -> str:
    """'/api/exams/{id}/' and '/api/exams/{pk}/' are the same operation path: '/api/exams/{}/'."""
    return re.sub(r"\{[^}/]*\}", "{}", template)


def R(methods: tuple[str, ...] | str, pattern: str, access: str, why: str = "") -> Rule:
    return Rule((methods,) if isinstance(methods, str) else methods, pattern, access, why)


POLICY: tuple[Rule, ...] = (
    # Platform
    R(READ, "/api/health/", PUBLIC, "liveness for load balancers; no data"),
    R(READ, "/api/schema/", PUBLIC, "the OpenAPI description; no data"),
    R(READ, "/api/docs/", PUBLIC, "the Swagger page; no data"),
    R("POST", "/api/auth/token/", PUBLIC, "a token for a username and password; throttled"),
    # Projects and members
    R(READ, "/api/projects/", AUTHENTICATED, "lists only the user's projects"),
    R("POST", "/api/projects/", AUTHENTICATED, "the creator becomes the owner"),
    R(ANY, "/api/projects/{}/pseudonyms/**", OWNER, "the pseudonym map: owners only"),
    R(READ, "/api/projects/{}/**", VIEWER),
    R(READ, "/api/projects/{}/", VIEWER),
    R("POST", "/api/projects/{}/uploads/", ANNOTATOR, "DICOM files or zips; ingest runs as a Job"),
    R(
        "POST",
        "/api/projects/{}/clinical-records/import/",
        ANNOTATOR,
        "CSV keyed by pseudonym; all rows or none",
    ),
    R(WRITE, "/api/projects/{}/**", OWNER, "settings, label schema and members"),
    R(WRITE, "/api/projects/{}/", OWNER),
    # Imaging (patients, exams, series, images, slides, clinical records)
    R(READ, "/api/patients/**", VIEWER),
    R(WRITE, "/api/patients/**", OWNER),
    R(
        READ,
        "/api/exams/{}/proposals/",
        VIEWER,
        "withheld from a blind reader before the first read",
    ),
    R(WRITE, "/api/exams/{}/proposals/accept-all/", REVIEWER, "a bulk review decision"),
    R(WRITE, "/api/exams/{}/preannotate/", REVIEWER, "runs the active models on the shared GPU"),
    R(READ, "/api/exams/**", VIEWER),
    R(WRITE, "/api/exams/{}/clinical-record/", ANNOTATOR),
    R(WRITE, "/api/exams/**", OWNER),
    R(READ, "/api/series/**", VIEWER),
    R(WRITE, "/api/series/**", OWNER),
    R(READ, "/api/images/{}/unmasked-dicom", OWNER, "the de-identified file before masking"),
    R("POST", "/api/images/{}/mark-clean/", REVIEWER, "release from burned-in quarantine"),
    R("POST", "/api/images/{}/mask/", REVIEWER, "mask configured burned-in text regions"),
    R(READ, "/api/images/**", VIEWER, "metadata, rendered PNG, de-identified DICOM, pixels"),
    R(WRITE, "/api/images/**", OWNER),
    R(
        READ,
        "/api/slides/{}/t/**",
        SIGNED,
        "tiles under the slide's tiles_url: a token for the viewer and slide, hourly expiry",
    ),
    R(READ, "/api/slides/**", VIEWER, "metadata, DZI and tiles"),
    R(WRITE, "/api/slides/**", OWNER),
    R(READ, "/api/clinical-records/**", VIEWER),
    R(WRITE, "/api/clinical-records/**", ANNOTATOR),
    # Ingest: uploads name their project in the path or the form
    R("POST", "/api/**upload*/**", ANNOTATOR, "upload DICOM, zip or folders; runs as a Job"),
    R("POST", "/api/**upload*", ANNOTATOR),
    R("POST", "/api/**ingest*/**", ANNOTATOR),
    # Annotations and the worklist
    R(READ, "/api/findings/**", VIEWER),
    R(WRITE, "/api/findings/**", ANNOTATOR, "versioned; a stale version gets 409"),
    R(READ, "/api/marks/**", VIEWER),
    R(WRITE, "/api/marks/**", ANNOTATOR),
    R(READ, "/api/exam-labels/**", VIEWER),
    R(WRITE, "/api/exam-labels/**", ANNOTATOR),
    R("POST", "/api/worklist/assign/", REVIEWER, "put readers on exams (a list, a count, a draw)"),
    R(READ, "/api/worklist/**", VIEWER),
    R(
        WRITE,
        "/api/worklist/**",
        ANNOTATOR,
        "claim the next exam, mark one done, submit my first and final read (once each: 409)",
    ),
    R(READ, "/api/agreement/", REVIEWER, "agreement between readers, as JSON or CSV"),
    R(READ, "/api/automation-bias/", REVIEWER, "how readers treat proposals, as JSON or CSV"),
    R(READ, "/api/adjudication/**", REVIEWER, "the queue, and an exam's reads side by side"),
    R(
        "POST",
        "/api/adjudication/{}/consensus/",
        REVIEWER,
        "records the consensus, closes the exam",
    ),
    # Jobs: the one polling resource
    R(READ, "/api/jobs/", AUTHENTICATED, "lists only jobs of the user's projects"),
    R(READ, "/api/jobs/{}/**", VIEWER),
    R(READ, "/api/jobs/{}/", VIEWER),
    R("POST", "/api/jobs/{}/cancel/", ANNOTATOR),
    # The access audit log (append-only: no writes exist)
    R(READ, "/api/audit/", OWNER, "rows of the projects the user owns; staff read all"),
    # Machine learning
    R(READ, "/api/recipes/**", AUTHENTICATED, "the engine's recipes; no project data"),
    R(READ, "/api/training-runs/", AUTHENTICATED, "lists only runs of the user's projects"),
    R(READ, "/api/training-runs/**", VIEWER),
    R(WRITE, "/api/training-runs/**", REVIEWER, "training uses the shared GPU"),
    R(READ, "/api/model-versions/", AUTHENTICATED),
    R(READ, "/api/model-versions/{}/package/", REVIEWER, "the weights leave; audited"),
    R(READ, "/api/model-versions/**", VIEWER),
    R("POST", "/api/model-versions/import/", REVIEWER, "checksum verified; audited"),
    R(WRITE, "/api/model-versions/{}/predict/", REVIEWER, "runs a model on the shared GPU"),
    R(WRITE, "/api/model-versions/**", REVIEWER),
    R(READ, "/api/snapshots/**", VIEWER, "what a data set snapshot holds, case by case"),
    R("POST", "/api/snapshots/", REVIEWER, "builds a snapshot by a ground-truth policy"),
    R(READ, "/api/active-rounds/", AUTHENTICATED, "lists only rounds of the user's projects"),
    R(READ, "/api/active-rounds/**", VIEWER),
    R("POST", "/api/active-rounds/", REVIEWER, "scores the pool on the shared GPU, picks reads"),
    R("POST", "/api/active-rounds/{}/close/", REVIEWER, "stops the round leading the worklist"),
    R(READ, "/api/retraining-policies/", AUTHENTICATED, "lists only the user's projects' ones"),
    R(READ, "/api/retraining-policies/**", VIEWER),
    R(
        WRITE,
        "/api/retraining-policies/**",
        REVIEWER,
        "schedules training on the shared GPU and may promote a model; run starts one now",
    ),
    R(READ, "/api/retraining-runs/", AUTHENTICATED, "lists only runs of the user's projects"),
    R(READ, "/api/retraining-runs/**", VIEWER, "decisions, paired figures per site, lineage"),
    R(READ, "/api/predictions/", AUTHENTICATED),
    R(READ, "/api/predictions/**", VIEWER),
    R(WRITE, "/api/proposals/{}/**", ANNOTATOR, "accept, edit or reject: writes a finding"),
    R(WRITE, "/api/preannotations/**", REVIEWER, "runs the active models on the shared GPU"),
    # Data set exports: the data leave the platform with a download
    R(READ, "/api/dataset-exports/", AUTHENTICATED, "lists only exports of the user's projects"),
    R(READ, "/api/dataset-exports/{}/download/", REVIEWER, "the zip leaves; audited"),
    R(READ, "/api/dataset-exports/{}/records/", REVIEWER, "the records leave as JSON; audited"),
    R(READ, "/api/dataset-exports/**", VIEWER, "status, progress, counts, hashes"),
    R(WRITE, "/api/dataset-exports/**", REVIEWER, "starts an export Job; audited"),
)


# Rows stricter than their path's rule: imported ground truth (findings whose source is
# "reference") is read-only to everyone but owners. Read by the reference-data test of the
# permission matrix and rendered into docs/security.md.
REFERENCE_POLICY: tuple[Rule, ...] = (
    R(
        ("PUT", "PATCH", "DELETE"),
        "/api/findings/{}/",
        OWNER,
        "a reference finding (imported ground truth): only owners correct it",
    ),
)

# Blind reading: in a project with `hide_reference` on, roles below this one get no reference
# data at all from the API: no reference finding, mark mask or label (those are 404 to them,
# absent from lists), no BI-RADS or density from them in the worklist, no match on them in the
# BI-RADS and density filters, and no description of an exam that carries them (importers write
# the class there, "BUSI benign"). The matrix test reads every GET operation as such a reader.
SEES_HIDDEN_REFERENCE = REVIEWER
BLIND_READS: tuple[str, ...] = (
    "/api/findings/**",
    "/api/marks/{}/mask.png",
    "/api/exam-labels/",
    "/api/worklist/",
    "/api/exams/",
    "/api/exams/{}/",
    "/api/exams/{}/priors/",
)


def rule_for(method: str, template: str, policy: tuple[Rule, ...] = POLICY) -> Rule | None:
    """The first rule for this operation, or None (which the matrix test reports as a failure)."""
    return next((rule for rule in policy if rule.matches(method, template)), None)


def reference_rule_for(method: str, template: str) -> Rule | None:
    """The stricter rule for a reference row at this operation, or None (the path's rule holds)."""
    return rule_for(method, template, REFERENCE_POLICY)


def policy_markdown(policy: tuple[Rule, ...] = POLICY) -> str:
    """The table as Markdown, for docs/security.md."""
    lines = ["| Methods | Path | Minimum access | Why |", "|---|---|---|---|"]
    for rule in policy:
        methods = ", ".join(m for m in rule.methods if m != "HEAD")
        lines.append(f"| {methods} | `{rule.pattern}` | {rule.access} | {rule.why} |")
    return "\n".join(lines)
