import numpy as np
import pytest

from senolab.imaging import pixelcache, storage

pytestmark = pytest.mark.django_db


def test_pixel_cache_round_trips_full_resolution_and_builds_levels():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 4096, size=(1500, 1100), dtype=np.uint16)

    with storage.files_with_rows() as batch:
        key, layout = pixelcache.write_pixel_cache(1, pixels, batch)

    assert np.array_equal(pixelcache.read_pixels(type("I", (), {"pixel_cache": layout})()), pixels)
    shapes = [entry["shape"][1:3] for entry in layout["levels"]]
    assert shapes == [[1500, 1100], [750, 550], [375, 275]]
    assert pixelcache.level_for_size(layout, 600) == 1


def test_files_written_for_a_failed_item_are_removed():
    kept: list[str] = []
    with pytest.raises(RuntimeError):
        with storage.files_with_rows() as batch:
            kept.append(batch.save(storage.new_key(1, "test", "bin"), b"abc"))
            raise RuntimeError("row could not be written")
    assert kept and not storage.exists(kept[0])
