"""Ray-traceable primitives of a synthetic place: textured rectangles, boxes and spheres.

Every primitive intersects one ray origin (the camera centre) with many ray directions at
once. Directions are not normalised: with d = R^T K^-1 [u, v, 1], the ray parameter t equals
the z-depth in the camera, so the depth map falls out of the intersection for free.
`intersect` gives t for all rays, or for the rays `dirs[rays]` (inf where missed); `surface` gives
texture coordinates (in metres) and normals for the rays a primitive turned out to own;
`surface_size` is the extent of those coordinates, so that one texture can cover the whole
primitive once; `bounding_sphere` (centre, radius) holds the whole primitive, so that the renderer
intersects it only with the rays whose lines pass through that sphere.

Products of ray directions with a vector go through BLAS, which rounds a row differently in
batches of different sizes; intersections therefore take such products over all the rays and
restrict them to `rays` afterwards, so that culled and unculled rendering agree to the bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from mapfree.synth.textures import mipmap

NO_HIT = np.float32(np.inf)
_T_MIN = 1e-3


def repeat_columns(values: np.ndarray, width: int) -> np.ndarray:
    """(N, width) copies of (N,) values. Products of (N, 3) arrays with an (N, 1) column or a (3,) row
    run numpy's loops three elements at a time; with a full (N, 3) operand they run as one flat loop,
    several times faster, and give the same numbers."""
    return np.repeat(values, width).reshape(-1, width)


def _line_sphere(origin: np.ndarray, dirs: np.ndarray, centre: np.ndarray, radius: float,
                 rays: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """a, b and the discriminant of a t^2 + 2 b t + c = 0, where the line of each ray of `dirs[rays]`
    (all rays when `rays` is None) meets a sphere; the line meets it where the discriminant is positive."""
    oc = origin - centre
    b = dirs @ oc
    if rays is not None:
        dirs, b = dirs.take(rays, axis=0), b[rays]
    a = np.einsum("ij,ij->i", dirs, dirs)
    return a, b, b * b - a * (oc @ oc - radius**2)


def _sphere_hits(origin: np.ndarray, dirs: np.ndarray, centre: np.ndarray, radius: float,
                 rays: np.ndarray | None) -> np.ndarray:
    """Nearest positive ray parameter to a sphere (inf where missed), for `dirs[rays]`."""
    a, b, disc = _line_sphere(origin, dirs, centre, radius, rays)
    hit = disc > 0
    t = np.full(len(a), NO_HIT, np.float32)
    t[hit] = (-b[hit] - np.sqrt(disc[hit])) / a[hit]
    t[t <= _T_MIN] = NO_HIT
    return t


@dataclass
class Rectangle:
    """A planar rectangle: centre, two orthogonal in-plane unit axes and half extents."""

    centre: np.ndarray
    axis_u: np.ndarray
    axis_v: np.ndarray
    half_u: float
    half_v: float
    texture: int

    @property
    def surface_size(self) -> tuple[float, float]:
        return 2 * self.half_u, 2 * self.half_v

    @property
    def bounding_sphere(self) -> tuple[np.ndarray, float]:
        return self.centre, float(np.hypot(self.half_u, self.half_v))

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.axis_u, self.axis_v).astype(np.float32)

    def intersect(self, origin: np.ndarray, dirs: np.ndarray, rays: np.ndarray | None = None) -> np.ndarray:
        """Computed over all the rays, as its products must be (see the module's note); `rays` only selects."""
        denom = dirs @ self.normal
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (((self.centre - origin) @ self.normal) / denom).astype(np.float32)
        ok = np.isfinite(t) & (t > _T_MIN)
        u, v = self._local(origin, dirs, np.where(ok, t, 0))
        ok &= (np.abs(u) <= self.half_u) & (np.abs(v) <= self.half_v)
        hits = np.where(ok, t, NO_HIT)
        return hits if rays is None else hits[rays]

    def _local(self, origin: np.ndarray, dirs: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        local = repeat_columns(t, 3) * dirs
        local += np.tile(origin - self.centre, (len(t), 1))
        return local @ self.axis_u, local @ self.axis_v

    def surface(self, origin: np.ndarray, dirs: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        u, v = self._local(origin, dirs, t)
        normal = self.normal
        facing = np.where((dirs @ normal)[:, None] < 0, normal, -normal)
        return np.stack([u, v], -1), facing


@dataclass
class Box:
    """A box standing on the ground, rotated by `yaw` about the vertical axis."""

    centre: np.ndarray
    half: np.ndarray
    yaw: float
    texture: int

    @property
    def bounding_sphere(self) -> tuple[np.ndarray, float]:
        return self.centre, float(np.linalg.norm(self.half))

    @property
    def _face_stride(self) -> float:
        return 2 * float(np.max(self.half))

    @property
    def surface_size(self) -> tuple[float, float]:
        """The six faces side by side along u (each in its own square), so no two faces look alike."""
        return 6 * self._face_stride, self._face_stride

    @property
    def world_to_box(self) -> np.ndarray:
        c, s = np.cos(self.yaw), np.sin(self.yaw)
        return np.array([[c, s, 0], [-s, c, 0], [0, 0, 1]], dtype=np.float32)

    def _slabs(self, origin: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        R = self.world_to_box
        o, d = R @ (origin - self.centre), dirs @ R.T
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / d
            low, high = (-self.half - o) * inv, (self.half - o) * inv
        return o, d, np.minimum(low, high), np.maximum(low, high)

    def intersect(self, origin: np.ndarray, dirs: np.ndarray, rays: np.ndarray | None = None) -> np.ndarray:
        """Slab test on the rays whose line meets the bounding sphere: the same rays, in the same
        order, whether or not `rays` culled the others first (see the module's note)."""
        disc = _line_sphere(origin, dirs, *self.bounding_sphere, rays)[2]
        t = np.full(len(disc), NO_HIT, np.float32)
        idx = np.flatnonzero(disc > 0)
        _, _, near, far = self._slabs(origin, dirs.take(idx if rays is None else rays[idx], axis=0))
        t_near = np.maximum(np.maximum(near[:, 0], near[:, 1]), near[:, 2])
        t_far = np.minimum(np.minimum(far[:, 0], far[:, 1]), far[:, 2])
        ok = (t_near <= t_far) & (t_near > _T_MIN)
        t[idx[ok]] = t_near[ok]
        return t

    def surface(self, origin: np.ndarray, dirs: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        o, d, near, _ = self._slabs(origin, dirs)
        axis = np.argmax(near, axis=1)
        p = o + t[:, None] * d
        rows = np.arange(len(d))
        sign = np.sign(p[rows, axis])
        normal_local = np.zeros_like(d)
        normal_local[rows, axis] = sign
        face = 2 * axis + (sign > 0)
        u = np.where(axis == 0, p[:, 1], p[:, 0]) + self._face_stride * face
        v = np.where(axis == 2, p[:, 1], p[:, 2])
        return np.stack([u, v], -1), normal_local @ self.world_to_box


@dataclass
class Sphere:
    """A sphere, textured by longitude and latitude scaled to metres."""

    centre: np.ndarray
    radius: float
    texture: int

    @property
    def surface_size(self) -> tuple[float, float]:
        return 2 * np.pi * self.radius, np.pi * self.radius

    @property
    def bounding_sphere(self) -> tuple[np.ndarray, float]:
        return self.centre, float(self.radius)

    def intersect(self, origin: np.ndarray, dirs: np.ndarray, rays: np.ndarray | None = None) -> np.ndarray:
        return _sphere_hits(origin, dirs, self.centre, self.radius, rays)

    def surface(self, origin: np.ndarray, dirs: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = (origin - self.centre + t[:, None] * dirs) / self.radius
        u = np.arctan2(n[:, 1], n[:, 0]) * self.radius
        v = np.arcsin(np.clip(n[:, 2], -1, 1)) * self.radius
        return np.stack([u, v], -1), n


Primitive = Rectangle | Box | Sphere


@dataclass(frozen=True)
class Sky:
    """The sky as photographs show it: a colour by direction only (it is at infinity), brighter and paler
    towards the horizon, with soft clouds; never a flat colour that every sky patch shares.

    `clouds` (K, 4) rows (azimuth frequency, elevation frequency, phase, amplitude) of smooth waves whose
    positive part whitens the sky.
    """

    horizon: np.ndarray
    zenith: np.ndarray
    clouds: np.ndarray

    @classmethod
    def random(cls, rng: np.random.Generator, n_waves: int = 6) -> Sky:
        zenith = np.array([0.35, 0.55, 0.9], np.float32) * rng.uniform(0.8, 1.1)
        horizon = np.array([0.75, 0.82, 0.92], np.float32) * rng.uniform(0.9, 1.05)
        waves = np.stack([rng.integers(1, 7, n_waves).astype(float), rng.uniform(2.0, 9.0, n_waves),
                          rng.uniform(0, 2 * np.pi, n_waves), rng.uniform(0.0, 0.12, n_waves)], -1)
        return cls(horizon, zenith, waves.astype(np.float32))

    def colour(self, dirs: np.ndarray) -> np.ndarray:
        """(N, 3) colours of world ray directions (N, 3), z up."""
        unit = dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)
        elevation = np.arcsin(np.clip(unit[:, 2], -1, 1))
        azimuth = np.arctan2(unit[:, 1], unit[:, 0])
        blend = np.clip(elevation / 0.8, 0, 1)[:, None]
        base = self.horizon + (self.zenith - self.horizon) * np.sqrt(blend)
        # one wave at a time, summed in order: broadcasting (N, K) arrays was three times slower
        cloud = np.zeros(len(dirs), np.result_type(azimuth, self.clouds))
        for f_az, f_el, phase, amplitude in self.clouds:
            cloud += np.sin(azimuth * f_az + elevation * f_el + phase) * amplitude
        cloud = np.clip(cloud, 0, None)[:, None]
        return (base + (1 - base) * np.clip(cloud * 2, 0, 0.8)).astype(np.float32)


@dataclass
class World:
    """A place: primitives, their textures, and the scene centre the cameras look at."""

    primitives: list[Primitive]
    textures: list[np.ndarray]
    centre: np.ndarray
    sky: Sky
    texels_per_metre: float = 64.0

    @cached_property
    def mipmaps(self) -> list[list[np.ndarray]]:
        """Every texture's mipmap (see :func:`mapfree.synth.textures.mipmap`), built once per place."""
        return [mipmap(texture) for texture in self.textures]
