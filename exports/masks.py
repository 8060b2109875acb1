"""Label-map masks per image (PNG and NIfTI), the label-map JSON, and a MONAI datalist.

A mask holds, per pixel, the label value of the finding type whose region covers it (0 is
background; LabelMap gives the values). PNG: 8-bit grey, rows x columns as the image. NIfTI:
the same values as a (columns, rows, 1) uint8 volume (NIfTI's first axis is x), identity
affine (pixel units: a projection image has no patient space to place it in).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator, Mapping

import numpy as np

from exports.geometry import label_mask
from exports.model import ExportFinding, ExportImage, LabelMap

DATALIST_SPLITS = {"train": "training", "validation": "validation", "test": "test"}


def image_mask(
    image: ExportImage, findings: Iterable[ExportFinding], label_map: LabelMap
) -> np.ndarray:
    """The image's (height, width) uint8 label map from its findings' region marks."""
    pairs = [
        (label_map.value(f.finding_type), mark)
        for f in findings
        if f.image_key == image.key
        for mark in f.marks
    ]
    return label_mask(pairs, image.width, image.height)


def mask_png(mask: np.ndarray) -> bytes:
    from PIL import Image as PILImage

    buffer = io.BytesIO()
    PILImage.fromarray(np.asarray(mask, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def mask_nifti(mask: np.ndarray) -> bytes:
    """A .nii (uncompressed NIfTI-1) file's bytes."""
    import nibabel as nib

    volume = np.asarray(mask, np.uint8).T[:, :, np.newaxis]
    image = nib.Nifti1Image(volume, np.eye(4))
    image.header.set_intent("label")
    image.header.set_xyzt_units("unknown")
    return image.to_bytes()


def label_map_json(label_map: LabelMap) -> str:
    return json.dumps(label_map.as_dict(), indent=1)


def monai_datalist(
    entries: Iterable[Mapping[str, str]], split_of: Mapping[str, str] | None = None
) -> Iterator[str]:
    """MONAI datalist JSON {"training": [...], "validation": [...], "test": [...]}.

    Each entry is {"image": path, "label": path, "split": train|validation|test, ...}; the
    split key is dropped from the output. Entries are grouped in memory (two short paths
    each), since the three lists are separate arrays of the document.
    """
    groups: dict[str, list[dict[str, str]]] = {name: [] for name in DATALIST_SPLITS.values()}
    for entry in entries:
        split = entry.get("split", "")
        if split not in DATALIST_SPLITS:
            raise ValueError(f"Unknown split {split!r}; one of {', '.join(DATALIST_SPLITS)}.")
        groups[DATALIST_SPLITS[split]].append({k: v for k, v in entry.items() if k != "split"})
    yield "{"
    for n, (name, items) in enumerate(groups.items()):
        yield ("," if n else "") + json.dumps(name) + ":["
        for i, item in enumerate(items):
            yield ("," if i else "") + json.dumps(item)
        yield "]"
    yield "}"


def datalist_entries(
    images: Iterable[ExportImage], mask_dir: str = "masks", extension: str = "nii"
) -> Iterator[dict[str, str]]:
    """Datalist entries pairing each image file with its mask file."""
    for image in images:
        yield {
            "image": image.file_name,
            "label": f"{mask_dir}/{image.key}.{extension}",
            "split": image.split,
        }
