"""Camera paths: a reference shot of the place and query walks around it."""

from __future__ import annotations

import numpy as np

from mapfree.geometry.transforms import look_at


def walk(
    rng: np.random.Generator, centre: np.ndarray, n_frames: int, azimuth0: float, span: float,
    distance: tuple[float, float],
) -> list[np.ndarray]:
    """World-to-camera poses of a hand-held phone walking around `centre`.

    The azimuth sweeps `span` radians centred on `azimuth0` (in a random direction), the
    distance oscillates within `distance` metres, the height stays near 1.5 m, and the
    viewing target drifts around the centre like a person re-framing the shot.
    """
    s = np.linspace(0.0, 1.0, n_frames) if n_frames > 1 else np.full(1, 0.5)
    azimuths = azimuth0 + rng.choice([-1.0, 1.0]) * span * (s - 0.5)
    lo, hi = distance
    dists = lo + (hi - lo) * 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(0.5, 1.5) * s + rng.uniform(0, 2 * np.pi)))
    heights = 1.5 + 0.25 * np.sin(2 * np.pi * rng.uniform(0.5, 2.0) * s + rng.uniform(0, 2 * np.pi))
    drift = rng.normal(0, 0.35, (2, 3)) * np.array([1.0, 1.0, 0.4])
    poses = []
    for a, d, h, si in zip(azimuths, dists, heights, s):
        eye = centre + np.array([d * np.cos(a), d * np.sin(a), 0.0])
        eye[2] = h
        target = centre + (1 - si) * drift[0] + si * drift[1] + rng.normal(0, 0.03, 3)
        poses.append(look_at(eye, target))
    return poses
