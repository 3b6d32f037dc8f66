"""The bundled demo image ``scene.png``: four flat colour regions plus noise.

:func:`scene_regions` is the ground truth; :func:`render_scene` regenerates the
PNG's pixels exactly (fixed seed), so the file can be rebuilt with
``python -m emkit.datasets._scene``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SCENE_SHAPE", "SCENE_COLOURS", "scene_regions", "render_scene"]

SCENE_SHAPE = (150, 200)  # rows, columns
#: Region colours (RGB): sky, grass, sun, house.
SCENE_COLOURS = np.array([[70, 130, 200], [60, 150, 60], [220, 60, 40], [235, 200, 70]])
_NOISE_SD = 12.0
_SEED = 20240607


def scene_regions() -> np.ndarray:
    """True region of every pixel, shape (150, 200), values 0 sky, 1 grass, 2 sun, 3 house."""
    rows, cols = np.mgrid[0 : SCENE_SHAPE[0], 0 : SCENE_SHAPE[1]]
    labels = np.where(rows < 95, 0, 1)
    labels[(rows - 35) ** 2 + (cols - 150) ** 2 < 22**2] = 2
    labels[(rows >= 70) & (rows < 125) & (cols >= 30) & (cols < 90)] = 3
    return labels


def render_scene() -> np.ndarray:
    """The scene's pixels, uint8 of shape (150, 200, 3): region colours plus Gaussian noise."""
    rng = np.random.default_rng(_SEED)
    image = SCENE_COLOURS[scene_regions()].astype(float)
    image += rng.normal(0.0, _NOISE_SD, size=image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


if __name__ == "__main__":  # pragma: no cover - rebuilds the bundled file
    from pathlib import Path

    from PIL import Image

    from emkit.atomic import atomic_path

    with atomic_path(Path(__file__).with_name("scene.png")) as tmp:
        Image.fromarray(render_scene()).save(tmp, optimize=True)
