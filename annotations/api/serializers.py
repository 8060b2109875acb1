"""Request shapes of the annotations API (the services check them against the project)."""

from __future__ import annotations

from rest_framework import serializers

from annotations.models import MarkKind

# Ids, frames and versions fit a 32-bit column everywhere; larger numbers are refused early.
MAX_INT = 2**31 - 1


def _id(**kw) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_INT, **kw)


class MarkInputSerializer(serializers.Serializer):
    """One mark as the client sends it; `id` keeps an existing mark (and its stored mask)."""

    id = _id(required=False, allow_null=True)
    image = _id(required=False, allow_null=True)
    slide = _id(required=False, allow_null=True)
    frame = serializers.IntegerField(required=False, default=0, min_value=0, max_value=MAX_INT)
    kind = serializers.ChoiceField(choices=MarkKind.choices)
    geometry = serializers.JSONField(required=False, default=dict)
    mask_png_base64 = serializers.CharField(required=False, allow_blank=False, write_only=True)


class FindingInputSerializer(serializers.Serializer):
    """A finding to create (exam required) or the fields of a save (version required)."""

    exam = serializers.IntegerField(required=False, min_value=1, max_value=MAX_INT)
    version = serializers.IntegerField(required=False, min_value=1, max_value=MAX_INT)
    finding_type = serializers.CharField(required=False, allow_blank=True, max_length=40)
    birads = serializers.CharField(required=False, allow_blank=True, max_length=4)
    pathology = serializers.CharField(required=False, allow_blank=True, max_length=20)
    laterality = serializers.CharField(required=False, allow_blank=True, max_length=1)
    attributes = serializers.DictField(required=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=10_000)
    marks = MarkInputSerializer(many=True, required=False)


class MarkSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    image = serializers.IntegerField(allow_null=True)
    slide = serializers.IntegerField(allow_null=True)
    frame = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=MarkKind.choices)
    geometry = serializers.JSONField()
    mask_url = serializers.CharField(required=False)


class FindingSerializer(serializers.Serializer):
    """A finding as stored (the 409 detail's "current" has this shape too)."""

    id = serializers.IntegerField()
    project = serializers.IntegerField()
    exam = serializers.IntegerField()
    source = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.source
    finding_type = serializers.CharField()
    birads = serializers.CharField()
    pathology = serializers.CharField()
    laterality = serializers.CharField()
    attributes = serializers.DictField()
    note = serializers.CharField()
    # {} for a finding drawn from scratch; from a model proposal: {"kind": "accepted" |
    # "edited", "prediction", "model_version", "overlap": {"iou", "dice"} (edited only)}.
    origin = serializers.DictField()
    version = serializers.IntegerField()
    deleted = serializers.BooleanField()
    created_by = serializers.IntegerField(allow_null=True)
    updated_by = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    marks = MarkSerializer(many=True)


class FindingVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    author = serializers.IntegerField(allow_null=True, source="author_id")
    author_name = serializers.CharField(allow_null=True, source="author.username", default=None)
    created_at = serializers.DateTimeField()
    snapshot = serializers.JSONField()


class ExamLabelInputSerializer(serializers.Serializer):
    """The reader's exam-level (laterality "") or breast-level (L/R) label; version 0 creates."""

    exam = serializers.IntegerField(required=False, min_value=1, max_value=MAX_INT)
    laterality = serializers.CharField(required=False, allow_blank=True, default="")
    version = serializers.IntegerField(min_value=0, max_value=MAX_INT)
    density = serializers.CharField(required=False, allow_blank=True, max_length=1)
    birads = serializers.CharField(required=False, allow_blank=True, max_length=4)
    pathology = serializers.CharField(required=False, allow_blank=True, max_length=20)
    attributes = serializers.DictField(required=False)


class ExamLabelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    exam = serializers.IntegerField()
    source = serializers.CharField()  # type: ignore[assignment]  # a field, not Field.source
    laterality = serializers.CharField()
    density = serializers.CharField()
    birads = serializers.CharField()
    pathology = serializers.CharField()
    attributes = serializers.DictField()
    # Set when the value came from a model's proposal (ml review): its prediction, version,
    # field and proposed value.
    origin = serializers.DictField()
    version = serializers.IntegerField()
    author = serializers.IntegerField(allow_null=True)
    updated_at = serializers.DateTimeField(allow_null=True)


class WorklistNextSerializer(serializers.Serializer):
    exam = serializers.IntegerField(allow_null=True)


class ReaderSerializer(serializers.Serializer):
    reader = serializers.CharField()
    status = serializers.CharField()


class WorklistRowSerializer(serializers.Serializer):
    exam = serializers.IntegerField()
    patient = serializers.CharField()
    study_date = serializers.DateField(allow_null=True)
    modalities = serializers.ListField(child=serializers.CharField())
    site = serializers.CharField()
    description = serializers.CharField()
    status = serializers.CharField()
    readers = ReaderSerializer(many=True)
    birads = serializers.CharField()
    density = serializers.CharField()
    quarantined_images = serializers.IntegerField(
        help_text="Images of the exam quarantined for burned-in text"
    )


class ReadingNowSerializer(serializers.Serializer):
    exam = serializers.IntegerField()
    reader = serializers.CharField()
    since = serializers.DateTimeField(allow_null=True)


class WorklistSerializer(serializers.Serializer):
    """A page of the worklist with the reader's counts and who is reading what."""

    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = WorklistRowSerializer(many=True)
    policy = serializers.CharField()
    done = serializers.IntegerField()
    remaining = serializers.IntegerField()
    unassigned = serializers.IntegerField()
    reading_now = ReadingNowSerializer(many=True)


class WorklistDoneSerializer(serializers.Serializer):
    exam = serializers.IntegerField()
    status = serializers.CharField()
