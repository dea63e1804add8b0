"""The renderer's texture filtering: pixels average the texels they cover instead of aliasing."""

import numpy as np
import pytest

from mapfree.geometry.camera import intrinsics_matrix
from mapfree.geometry.transforms import look_at
from mapfree.synth.render import Lighting, pixel_footprint, render, sample_filtered, sample_wrapped
from mapfree.synth.textures import mipmap
from mapfree.synth.world import Rectangle, Sky, World

BLACK_SKY = Sky(np.zeros(3, np.float32), np.zeros(3, np.float32), np.zeros((0, 4), np.float32))


def _checkerboard(side: int) -> np.ndarray:
    """(side, side, 3) one-texel black and white checks: all detail, mean grey 0.5."""
    checks = (np.indices((side, side)).sum(0) % 2).astype(np.float32)
    return np.repeat(checks[..., None], 3, axis=2)


def test_mipmap_levels_halve_and_keep_the_mean():
    texture = np.random.default_rng(0).random((64, 48, 3)).astype(np.float32)
    levels = mipmap(texture, min_side=4)
    assert [lv.shape[:2] for lv in levels] == [(64, 48), (32, 24), (16, 12), (8, 6)]
    for level in levels:
        assert level.mean() == pytest.approx(texture.mean(), abs=1e-5)


def test_filtered_lookup_reads_level_zero_up_to_one_texel_and_averages_beyond():
    texture = np.random.default_rng(1).random((32, 32, 3)).astype(np.float32)
    levels = mipmap(texture)
    xy = np.random.default_rng(2).uniform(0, 32, (50, 2)).astype(np.float32)
    np.testing.assert_allclose(sample_filtered(levels, xy, np.full(50, 0.7)), sample_wrapped(texture, xy), atol=1e-6)
    # A footprint of 2 texels reads level 1 alone: at a level-1 texel centre, that is the 2x2 mean.
    centre = np.array([[4.5, 6.5]], np.float32)  # level-0 texels 4..5 x 6..7
    expected = texture[6:8, 4:6].reshape(-1, 3).mean(0)
    np.testing.assert_allclose(sample_filtered(levels, centre, np.array([2.0]))[0], expected, atol=1e-5)


def test_pixel_footprint_grows_with_depth_and_slant():
    normal = np.array([[0.0, 0.0, -1.0], [0.0, 0.0, -1.0]], np.float32)
    dirs = np.array([[0.0, 0.0, 1.0], [np.sqrt(3.0), 0.0, 1.0]], np.float32)  # straight on; 60 degrees off the normal
    np.testing.assert_allclose(pixel_footprint(np.array([2.0, 2.0]), dirs, normal, 100.0), [0.02, 0.04], rtol=1e-5)


def test_a_far_fine_texture_renders_as_its_average_not_as_noise():
    """A wall of one-texel checks 40 m away: each pixel covers dozens of checks, so it shows grey."""
    wall = Rectangle(np.array([0.0, 40.0, 0.0], np.float32), np.array([1.0, 0, 0], np.float32),
                     np.array([0, 0, 1.0], np.float32), 20.0, 20.0, 0)
    world = World([wall], [_checkerboard(256)], centre=np.zeros(3), sky=BLACK_SKY,
                  texels_per_metre=64.0)
    K = intrinsics_matrix(50.0, 50.0, 15.5, 15.5)
    T = look_at(np.zeros(3), np.array([0.0, 40.0, 0.0]))
    light = Lighting(np.array([0.0, -1.0, 0.0], np.float32), 1.0, np.ones(3, np.float32))
    image, depth = render(world, K, T, 32, 32, light, np.random.default_rng(0))
    assert np.allclose(depth, 40.0, rtol=0.2)
    grey = image.astype(np.float32) / 255
    assert abs(grey.mean() - 0.5) < 0.03 and grey.std() < 0.05


def test_sky_is_a_function_of_direction_and_not_one_flat_colour():
    """At infinity the sky looks the same along a direction from anywhere, and it varies across the view
    (a gradient and clouds), so no two distant sky patches are identical as on a flat colour."""
    sky = Sky.random(np.random.default_rng(3))
    dirs = np.random.default_rng(0).normal(size=(500, 3)).astype(np.float32)
    dirs[:, 2] = np.abs(dirs[:, 2])
    np.testing.assert_allclose(sky.colour(dirs), sky.colour(dirs * 7.0), atol=1e-5)
    colours = sky.colour(dirs)
    assert colours.min() >= 0 and colours.max() <= 1
    assert colours.std(axis=0).max() > 0.03
    up, horizon = sky.colour(np.array([[0, 0, 1.0], [1.0, 0, 0.01]], np.float32))
    assert up[2] > up[0] and np.abs(up - horizon).max() > 0.05
