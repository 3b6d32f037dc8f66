"""Image segmentation by a Gaussian mixture on pixel colours: the bundled scene, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import adjusted_rand_score

from emkit.cli import main
from emkit.datasets import load_scene
from emkit.datasets._scene import SCENE_COLOURS, render_scene, scene_regions
from emkit.segmentation import render_segments, segment_image


@pytest.fixture(scope="module")
def scene():
    return load_scene(return_regions=True)


def test_bundled_scene_is_the_generated_one(scene):
    image, regions = scene
    assert image.shape == (150, 200, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image, render_scene())
    np.testing.assert_array_equal(regions, scene_regions())
    assert np.bincount(regions.ravel()).tolist() == [15987, 9200, 1513, 3300]
    assert load_scene().shape == (150, 200, 3)


def test_segmentation_recovers_the_regions(scene):
    image, regions = scene
    labels, palette = segment_image(image, 4, sample_size=5000, random_state=0)
    assert labels.shape == regions.shape
    assert adjusted_rand_score(regions.ravel(), labels.ravel()) > 0.995
    # segment 0 is the largest (the sky); colours are the region colours within noise
    assert list(palette.columns) == ["segment", "red", "green", "blue", "pixels", "fraction",
                                     "weight"]
    assert palette["pixels"].is_monotonic_decreasing
    assert palette["pixels"].sum() == image.shape[0] * image.shape[1]
    np.testing.assert_allclose(palette["fraction"].sum(), 1.0)
    np.testing.assert_allclose(palette["weight"].sum(), 1.0)
    order = [0, 1, 3, 2]  # sky, grass, house, sun by size
    found = palette[["red", "green", "blue"]].to_numpy()
    np.testing.assert_allclose(found, SCENE_COLOURS[order], atol=3)
    painted = render_segments(labels, palette)
    assert painted.shape == image.shape and painted.dtype == np.uint8


def test_position_splits_one_colour_into_separate_places():
    rng = np.random.default_rng(1)
    truth = np.zeros((60, 90), dtype=int)
    truth[:, 30:60] = 1
    truth[:, 60:] = 2  # regions 0 and 2 share a colour
    colours = np.array([[200, 40, 40], [40, 40, 200], [200, 40, 40]])
    image = np.clip(colours[truth] + rng.normal(0, 10, (60, 90, 3)), 0, 255).astype(np.uint8)
    by_colour, _ = segment_image(image, 2, random_state=0)
    assert adjusted_rand_score((truth == 1).ravel(), by_colour.ravel()) > 0.99
    with_position, _ = segment_image(image, 3, use_position=True, random_state=0)
    assert adjusted_rand_score(truth.ravel(), with_position.ravel()) > 0.98


def test_large_image_is_labelled_in_chunks(scene):
    image, regions = scene
    big = np.repeat(np.repeat(image, 8, axis=0), 8, axis=1)  # 1200 x 1600: 1.9 megapixels
    truth = np.repeat(np.repeat(regions, 8, axis=0), 8, axis=1)
    labels, palette = segment_image(big, 4, sample_size=4000, random_state=2)
    assert labels.shape == big.shape[:2]
    assert adjusted_rand_score(truth.ravel()[::7], labels.ravel()[::7]) > 0.99
    assert palette["pixels"].sum() == big.shape[0] * big.shape[1]


def test_grey_rgba_and_float_images(scene):
    image, regions = scene
    grey = image.mean(axis=2).astype(np.uint8)
    labels, palette = segment_image(grey, 2, random_state=0)
    assert labels.shape == grey.shape
    assert (palette["red"] == palette["blue"]).all()
    rgba = np.concatenate([image, np.full((*image.shape[:2], 1), 255, np.uint8)], axis=2)
    labels_rgba, _ = segment_image(rgba, 4, random_state=0)
    assert adjusted_rand_score(regions.ravel(), labels_rgba.ravel()) > 0.99
    labels_float, palette_float = segment_image(image / 255.0, 4, random_state=0)
    assert adjusted_rand_score(regions.ravel(), labels_float.ravel()) > 0.99
    assert palette_float["red"].max() <= 255


@pytest.mark.parametrize(("image", "kwargs", "message"), [
    (np.zeros((4, 4, 2)), {}, "shape"),
    (np.zeros((0, 4, 3)), {}, "empty"),
    (np.zeros((4, 4, 3)), {"n_components": 0}, "n_components"),
    (np.zeros((4, 4, 3)), {"sample_size": 1, "n_components": 2}, "sample_size"),
    (np.zeros((4, 4, 3)), {"n_components": 2}, "distinct"),
    (np.full((4, 4, 3), np.nan), {}, "NaN"),
])
def test_bad_input(image, kwargs, message):
    kwargs = {"n_components": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        segment_image(image, **kwargs)


def test_cli_segment(capsys, tmp_path, scene):
    image, regions = scene
    source = tmp_path / "scene.png"
    Image.fromarray(image).save(source)
    out_png, out_csv = tmp_path / "seg.png", tmp_path / "colours.csv"
    code = main(["segment", str(source), "-k", "4", "-o", str(out_png), "--table", str(out_csv),
                 "--seed", "0"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "4 segments" in out
    written = np.asarray(Image.open(out_png))
    assert written.shape == image.shape
    table = pd.read_csv(out_csv)
    assert len(table) == 4 and table["pixels"].sum() == regions.size
    assert len(np.unique(written.reshape(-1, 3), axis=0)) == 4
    code = main(["segment", str(source), "-k", "3", "--position", "--json", "--seed", "1"])
    doc = json.loads(capsys.readouterr()[0])
    assert code == 0 and doc["k"] == 3 and len(doc["segments"]) == 3
    assert (tmp_path / "scene-segmented.png").exists()


def test_cli_segment_errors(capsys, tmp_path):
    assert main(["segment", str(tmp_path / "missing.png")]) == 1
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    assert main(["segment", str(bad)]) == 1
    assert "not an image" in capsys.readouterr()[1]
