"""Request bodies and mask PNGs for the annotations tests."""

from __future__ import annotations

import base64
import io

import numpy as np
from PIL import Image as PILImage

ROWS, COLUMNS = 20, 32


def png_base64(mask: np.ndarray) -> str:
    buf = io.BytesIO()
    PILImage.fromarray(mask.astype(np.uint8) * 255).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def finding_body(room, **overrides) -> dict:
    body = {
        "exam": room.exam.pk,
        "finding_type": "mass",
        "birads": "4",
        "laterality": "L",
        "attributes": {"mass_shape": "oval"},
        "note": "first read",
        "marks": [
            {
                "image": room.cc.pk,
                "kind": "box",
                "geometry": {"x": 1, "y": 2, "width": 5, "height": 6},
            }
        ],
    }
    body.update(overrides)
    return body
