"""Task pipelines registered by name: one base class, each task fills its hooks."""

from __future__ import annotations

from ml.engine.pipelines.base import Pipeline
from ml.engine.pipelines.classification import ClassificationPipeline
from ml.engine.pipelines.detection import DetectionPipeline
from ml.engine.pipelines.segmentation import SegmentationPipeline

PIPELINES: dict[str, type[Pipeline]] = {}


def register(cls: type[Pipeline]) -> type[Pipeline]:
    """Register a pipeline class under its task name (later registrations replace earlier)."""
    PIPELINES[cls.task] = cls
    return cls


for _cls in (ClassificationPipeline, SegmentationPipeline, DetectionPipeline):
    register(_cls)


def pipeline_for(task: str) -> type[Pipeline]:
    try:
        return PIPELINES[task]
    except KeyError as exc:
        raise ValueError(f"no pipeline for task {task!r}; known: {sorted(PIPELINES)}") from exc


__all__ = ["PIPELINES", "Pipeline", "pipeline_for", "register"]
