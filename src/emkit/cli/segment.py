"""``emkit segment``: segment a photo by a Gaussian mixture on its pixel colours.

Fits the mixture on a random subsample of pixels, labels every pixel in chunks,
writes the image painted with each segment's mean colour, and prints (or
writes with ``--table``) the per-segment colour table.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ._common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    JsonOption,
    QuietOption,
    SeedOption,
    plural,
    print_json,
    watch_fit,
)

__all__ = ["segment", "register", "IMAGE_SUFFIXES"]

#: Image formats the segmented image is written in (by the suffix, as Pillow does).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def _read_image(path: Path):
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        with Image.open(path) as img:
            mode = "L" if img.mode in ("1", "L", "I", "I;16", "F") else "RGB"
            return np.asarray(img.convert(mode))
    except UnidentifiedImageError:
        raise ValueError(f"{path} is not an image Pillow can read") from None


def segment(
    image: Annotated[Path, typer.Argument(help="Image file (PNG, JPEG, ...).")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Number of segments.")] = 4,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the segmented image here (default: "
        "<image>-segmented.png).")] = None,
    position: Annotated[bool, typer.Option(
        "--position", help="Use pixel position as well as colour.")] = False,
    position_weight: Annotated[float, typer.Option(
        "--position-weight", min=1e-9,
        help="Scale of the position features (with --position).")] = 1.0,
    table: Annotated[Path | None, typer.Option(
        "--table", metavar="FILE", help="Write the per-segment colour table: .csv, .tsv, "
        ".parquet or .json by the suffix.")] = None,
    sample_size: Annotated[int, typer.Option(
        "--sample-size", min=1, help="Pixels used to fit the mixture.")] = 20000,
    as_json: JsonOption = False,
    seed: SeedOption = 0,
    quiet: QuietOption = False,
) -> int:
    """Segment IMAGE into K colour regions; write the segmented image and colour table."""
    import time

    from PIL import Image

    from ..atomic import atomic_path
    from ..segmentation import render_segments, segment_image
    from ._output import check_output, write_table

    output = output or image.with_name(f"{image.stem}-segmented.png")
    check_output(output, "--output", IMAGE_SUFFIXES)
    check_output(table, "--table")
    pixels = _read_image(image)
    start = time.perf_counter()
    with watch_fit(quiet=quiet, label="segmenting") as watch:
        labels, palette = segment_image(pixels, k, use_position=position,
                                        sample_size=sample_size, random_state=seed,
                                        position_weight=position_weight)
    seconds = time.perf_counter() - start
    if watch.interrupted:
        if as_json:
            print_json({"image": image, "k": k, "interrupted": True, "output": None,
                        "table_path": None, "segments": palette.to_dict(orient="records")})
            return EXIT_INTERRUPTED
        print("Interrupted (Ctrl-C): nothing was written; the segment colours so far:",
              file=sys.stderr)
        print(palette.to_string(index=False), file=sys.stderr)
        return EXIT_INTERRUPTED
    with atomic_path(output) as tmp:
        Image.fromarray(render_segments(labels, palette)).save(tmp)
    if table is not None:
        write_table(palette, table)
    if as_json:
        print_json({"image": image, "height": int(labels.shape[0]),
                    "width": int(labels.shape[1]), "k": k, "position": position,
                    "seconds": seconds, "output": output, "table_path": table,
                    "interrupted": False,
                    "segments": palette.to_dict(orient="records")})
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    view = Table("segment", "colour", "red", "green", "blue", "pixels", "fraction",
                 title=f"{image.name}: {labels.shape[1]} x {labels.shape[0]} pixels, "
                 f"{plural(k, 'segment')} ({seconds:.2f} s)")
    for row in palette.itertuples(index=False):
        hex_colour = f"#{int(row.red):02x}{int(row.green):02x}{int(row.blue):02x}"
        view.add_row(str(row.segment), f"[on {hex_colour}]      [/]", str(row.red),
                     str(row.green), str(row.blue), str(row.pixels), f"{row.fraction:.3f}")
    console.print(view)
    if not quiet:
        print(f"Wrote {output}", file=sys.stderr)
        if table is not None:
            print(f"Wrote {table}", file=sys.stderr)
    return EXIT_OK


def register(app: typer.Typer) -> None:
    """Add ``emkit segment`` to ``app``."""
    from ._command import add_command

    add_command(app, "segment", segment, reads_data=False)
