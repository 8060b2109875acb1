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


def test_a_reduced_read_takes_the_smallest_level_still_large_enough_and_says_its_factor():
    pixels = np.random.default_rng(1).integers(0, 4096, size=(1500, 1100), dtype=np.uint16)
    with storage.files_with_rows() as batch:
        _, layout = pixelcache.write_pixel_cache(1, pixels, batch)
    # long side >= 700 and short side >= 500: level 1 (750 x 550), not level 2 (375 x 275)
    reduced, factor, full = pixelcache.read_reduced(layout, 700, 500)
    assert reduced.shape == (750, 550) and factor == 2 and full == (1500, 1100)
    assert reduced[10, 20] == round(pixels[20:22, 40:42].astype(float).mean())
    # a short side of 600 is more than level 1 holds: full resolution
    reduced, factor, full = pixelcache.read_reduced(layout, 700, 600)
    assert factor == 1 and np.array_equal(reduced, pixels)
    # small enough for the last level
    assert pixelcache.read_reduced(layout, 300, 200)[0].shape == (375, 275)
