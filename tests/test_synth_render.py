"""The renderer's texture filtering: pixels average the texels they cover instead of aliasing."""

import numpy as np
import pytest

from mapfree.geometry.camera import Camera, intrinsics_matrix
from mapfree.geometry.transforms import camera_center, look_at
from mapfree.synth.places import make_place
from mapfree.synth.render import (
    Lighting,
    RayTiles,
    camera_rays,
    nearest_hits,
    pixel_footprint,
    render,
    sample_filtered,
    sample_wrapped,
)
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
    camera = Camera.from_matrix(intrinsics_matrix(50.0, 50.0, 15.5, 15.5), 32, 32)
    T = look_at(np.zeros(3), np.array([0.0, 40.0, 0.0]))
    light = Lighting(np.array([0.0, -1.0, 0.0], np.float32), 1.0, np.ones(3, np.float32))
    image, depth = render(world, camera, T, light, np.random.default_rng(0))
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


def _plain_trilinear(levels: list[np.ndarray], xy: np.ndarray, footprint: np.ndarray) -> np.ndarray:
    """The trilinear lookup written out point by point in float64: the definition the sampler must match."""
    h0, w0 = levels[0].shape[:2]
    out = []
    for (x, y), size in zip(xy.astype(float), footprint.astype(float)):
        lod = min(np.log2(max(size, 1.0)), len(levels) - 1)
        base = min(int(lod), len(levels) - 2)
        colour = np.zeros(levels[0].shape[2])
        for level, weight in ((base, 1 - (lod - base)), (base + 1, lod - base)):
            tex = levels[level]
            h, w = tex.shape[:2]
            sx, sy = (x + 0.5) * w / w0 - 0.5, (y + 0.5) * h / h0 - 0.5
            x0, y0 = int(np.floor(sx)), int(np.floor(sy))
            fx, fy = sx - x0, sy - y0
            for dx, dy, bilinear in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                                     (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
                colour += weight * bilinear * tex[(y0 + dy) % h, (x0 + dx) % w]
        out.append(colour)
    return np.array(out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_filtered_lookup_equals_the_plain_definition_everywhere(dtype):
    """Coordinates off the texture on every side (wrapping), footprints below one texel, exactly on a level,
    between levels and beyond the coarsest."""
    rng = np.random.default_rng(4)
    levels = mipmap(rng.random((24, 40, 3)).astype(np.float32))
    assert len(levels) == 3
    xy = rng.uniform(-70, 110, (400, 2)).astype(dtype)
    footprint = np.concatenate([[0.3, 1.0, 2.0, 4.0, 100.0], np.exp2(rng.uniform(-1, 4, 395))]).astype(np.float32)
    np.testing.assert_allclose(sample_filtered(levels, xy, footprint), _plain_trilinear(levels, xy, footprint),
                               atol=2e-6)


def _line_meets_sphere(origin: np.ndarray, dirs: np.ndarray, centre: np.ndarray, radius: float) -> np.ndarray:
    """(N,) whether the full line through origin along each direction passes within `radius` of `centre`."""
    unit = dirs / np.linalg.norm(dirs, axis=1, keepdims=True)
    offset = centre - origin
    return np.linalg.norm(offset - (unit @ offset)[:, None] * unit, axis=1) < radius


def test_tile_candidates_keep_every_ray_whose_line_meets_the_sphere():
    """Spheres ahead, behind, beside the camera and around it: no ray whose line (both half-lines: the box test
    starts from the line) meets a sphere is culled, and small spheres cull most rays."""
    camera = Camera.from_matrix(intrinsics_matrix(60.0, 60.0, 39.5, 29.5), 80, 60)
    T = look_at(np.array([0.0, -6.0, 1.5]), np.array([0.0, 0.0, 1.0]))
    origin, dirs = camera_center(T), camera_rays(camera, T).astype(np.float64)
    tiles = RayTiles.of_camera(camera, T)
    rng = np.random.default_rng(6)
    culled = 0
    for centre, radius in [(origin + rng.normal(0, 5, 3), rng.uniform(0.2, 2.0)) for _ in range(60)]:
        rays = tiles.candidates(origin, centre, radius)
        meets = np.flatnonzero(_line_meets_sphere(origin, dirs, centre, radius))
        if rays is None:
            continue
        assert np.isin(meets, rays).all()
        culled += len(rays) < len(dirs) / 2
    assert tiles.candidates(origin, origin + 0.1, 1.0) is None
    assert culled > 20


def test_culled_rendering_equals_brute_force_to_the_bit():
    """The nearest hit of every ray of a synthetic place, seen from around, inside and out of its objects'
    bounding spheres and looking away from them, is the same with tile culling as without."""
    world = make_place(np.random.default_rng(7))
    camera = Camera.from_matrix(intrinsics_matrix(50.0, 50.0, 39.5, 31.5), 80, 64)
    views = [((6.0, -2.0, 1.6), (0.0, 0.0, 1.0)), ((0.0, 7.0, 1.2), (0.5, 0.0, 0.5)),
             ((5.0, 0.0, 1.5), (12.0, 1.0, 1.5)), ((2.8, 0.5, 0.8), (0.0, 3.0, 1.0))]
    seen, culled_views = set(), 0
    for eye, target in views:
        T = look_at(np.array(eye), np.array(target))
        origin, dirs = camera_center(T).astype(np.float32), camera_rays(camera, T)
        tiles = RayTiles.of_camera(camera, T)
        culled = nearest_hits(world.primitives, origin, dirs, tiles)
        full = nearest_hits(world.primitives, origin, dirs, None)
        np.testing.assert_array_equal(culled[0], full[0])
        np.testing.assert_array_equal(culled[1], full[1])
        seen |= set(full[1].tolist())
        culled_views += any(tiles.candidates(origin, *p.bounding_sphere) is not None for p in world.primitives[4:])
    assert len(seen) > 6 and culled_views >= 3
