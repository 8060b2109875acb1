"""Multimodal fusion: one case-level malignancy prediction from whichever modalities a case has.

- `encoders`: per-modality encoders to a common embedding size (four mammography views with
  shared weights, ultrasound / generic images, MRI slices, a pathology bag of tiles with gated
  attention, the clinical record as a table);
- `model`: `FusionModel` with the strategies "late", "concat", "gated" and "attention", modality
  dropout, prediction from any subset with each modality's contribution;
- `synthetic`: seeded paired cases whose label depends jointly on several modalities;
- `training`: a small seeded trainer and AUC evaluation with bootstrap intervals.

Importing this package does not import torch (the submodules do).
"""

MODALITIES = ("mammography", "ultrasound", "mri", "pathology", "clinical")
STRATEGIES = ("late", "concat", "gated", "attention")

__all__ = ["MODALITIES", "STRATEGIES"]
