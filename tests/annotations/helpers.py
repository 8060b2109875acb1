"""Request bodies for the annotations tests (mask PNGs: tests.factories.mask_png_base64)."""

from __future__ import annotations

ROWS, COLUMNS = 20, 32


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
