"""Draw the notebook's figures into images/, byte for byte reproducibly (``make figures``).

Each figure is one small pure function returning the file's bytes; ``FIGURES`` lists them, in
notebook order, with the alt text the notebook shows. ``python -m authoring.figures`` writes
them into images/; ``--check`` redraws into a temporary directory and fails if images/ differs.

Reproducibility: matplotlib draws on its own Agg canvas (no pyplot, no backend state) inside a
pristine rc context (``rcdefaults`` + ``STYLE``, so no matplotlibrc leaks in), with the DejaVu
fonts matplotlib bundles, no randomness, and PNG metadata stripped; the GIF is quantised with
one palette computed from all its frames and no dithering.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import hsv_to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Polygon, Rectangle
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGES_DIR = REPO_ROOT / "images"

# 900 px wide: the width of a JupyterLab notebook cell on a laptop, so nothing is scaled.
DPI = 100
WIDTH_INCHES = 9.0
PX_PER_UNIT = 10  # drawing unit of every board: 10 px in both directions
WIDTH_UNITS = WIDTH_INCHES * DPI / PX_PER_UNIT

# One palette for every figure (Tableau 10 hues, softened for fills).
INK = "#1f2933"
MUTED = "#616e7c"
GRID_LINE = "#7b8794"
INPUT_FILL = "#dbe7f3"
PAD_FILL = "#e4e7eb"
WINDOW = "#e8833a"
WINDOW_FILL = "#fbd9bd"
OUTPUT = "#2a9d8f"
OUTPUT_FILL = "#c6ebe6"
SECOND = "#8e6bb0"
SECOND_FILL = "#e2d5ee"
POOL_WINDOW_FILLS = ("#c9dcf0", "#fbd9bd", "#cfe8c7", "#e2d5ee")
POOL_WINDOW_EDGES = ("#4e79a7", "#e8833a", "#59a14f", "#8e6bb0")
CODE_FONT = "DejaVu Sans Mono"

STYLE = {
    "font.family": "DejaVu Sans",
    "font.size": 12,
    "mathtext.fontset": "dejavusans",
    "text.color": INK,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
    "savefig.dpi": DPI,
}


# --------------------------------------------------------------------------- drawing helpers


@contextmanager
def _house_style() -> Iterator[None]:
    """matplotlib's defaults plus STYLE, whatever the user's matplotlibrc says."""
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(STYLE)
        yield


def _board(height_units: float) -> tuple[Figure, Axes]:
    """A white figure WIDTH_UNITS wide and one frameless axes measured in drawing units.

    One unit is PX_PER_UNIT pixels both ways; x grows rightwards and y downwards (like array
    rows), so the cell (row, col) of a grid whose corner is (left, top) starts at
    (left + col * cell, top + row * cell).
    """
    figure = Figure(figsize=(WIDTH_INCHES, height_units * PX_PER_UNIT / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, WIDTH_UNITS)
    axes.set_ylim(height_units, 0)
    axes.axis("off")
    return figure, axes


def _png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes, without the Software tag (the only metadata Agg writes)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _rgb_image(figure: Figure) -> Image.Image:
    """The figure rendered to an RGB Pillow image (one GIF frame)."""
    canvas = figure.canvas
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())


def _grid(
    axes: Axes,
    left: float,
    top: float,
    cell: float,
    fills: Sequence[Sequence[object]],
    labels: Sequence[Sequence[str]] | None = None,
    *,
    edge: str = GRID_LINE,
    fontsize: float = 12,
    label_colour: str = INK,
    linewidth: float = 1.0,
) -> None:
    """Draw a grid of square cells filled with ``fills[row][col]``, labelled in their centres."""
    for row, fill_row in enumerate(fills):
        for col, fill in enumerate(fill_row):
            x, y = left + col * cell, top + row * cell
            axes.add_patch(
                Rectangle((x, y), cell, cell, facecolor=fill, edgecolor=edge, linewidth=linewidth)
            )
            if labels is not None and labels[row][col]:
                axes.text(
                    x + cell / 2,
                    y + cell / 2,
                    labels[row][col],
                    ha="center",
                    va="center_baseline",
                    fontsize=fontsize,
                    color=label_colour,
                )


def _outline(
    axes: Axes,
    left: float,
    top: float,
    width: float,
    height: float,
    colour: str,
    *,
    linewidth: float = 3.0,
    linestyle: str = "-",
) -> None:
    """A thick unfilled rectangle above everything else (windows, highlighted cells)."""
    axes.add_patch(
        Rectangle(
            (left, top),
            width,
            height,
            fill=False,
            edgecolor=colour,
            linewidth=linewidth,
            linestyle=linestyle,
            zorder=5,
            joinstyle="miter",
        )
    )


def _arrow(
    axes: Axes,
    start: tuple[float, float],
    end: tuple[float, float],
    colour: str = MUTED,
    *,
    linewidth: float = 2.0,
    connection: str = "arc3",
) -> None:
    """A filled-head arrow from ``start`` to ``end`` in drawing units."""
    axes.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle="-|>",
            mutation_scale=18,
            color=colour,
            linewidth=linewidth,
            connectionstyle=connection,
            shrinkA=0,
            shrinkB=0,
            zorder=4,
        )
    )


def _text(axes: Axes, x: float, y: float, text: str, **kwargs: object) -> None:
    """Centred text by default; keyword arguments as for ``Axes.text``."""
    options = {"ha": "center", "va": "center", "fontsize": 12, "color": INK}
    options.update(kwargs)
    axes.text(x, y, text, **options)


def _code(axes: Axes, x: float, y: float, text: str, **kwargs: object) -> None:
    """Text in the monospace font used for code and shapes."""
    _text(axes, x, y, text, family=CODE_FONT, **kwargs)


def _grid_title(
    axes: Axes, left: float, top: float, width: float, gap: float, text: str, *, code: bool = True
) -> None:
    """A grid's bold name (and shape), centred ``gap`` above a grid ``width`` wide; in the code
    font unless ``code`` is False."""
    write = _code if code else _text
    write(axes, left + width / 2, top - gap, text, fontsize=12.5, weight="bold")


def _grid_indices(axes: Axes, left: float, top: float, cell: float, count: int) -> None:
    """The row numbers left of and the column numbers above a square grid of ``count`` cells."""
    for index in range(count):
        _code(axes, left - 1.3, top + (index + 0.5) * cell, str(index), fontsize=10, color=MUTED)
        _code(axes, left + (index + 0.5) * cell, top - 1.3, str(index), fontsize=10, color=MUTED)


def _box3d(
    axes: Axes,
    left: float,
    bottom: float,
    width: float,
    height: float,
    depth: float,
    colour: str,
    *,
    slabs: Sequence[str] | None = None,
    edge: str = INK,
) -> tuple[float, float]:
    """Draw a volume in oblique projection; return the (dx, dy) offset of its back face.

    The front face is the height x width plane; depth (the channel axis, channels-last) recedes
    up and to the right. ``slabs`` colours the volume as that many equal slices along the
    depth, front slice first (one per output channel).
    """
    dx, dy = 0.55 * depth, -0.45 * depth
    colours = list(slabs) if slabs else [colour]
    count = len(colours)
    # Paint back to front so nearer slices cover farther ones.
    for index in reversed(range(count)):
        fill = colours[index]
        near = index / count
        far = (index + 1) / count
        x0, y0 = left + near * dx, bottom + near * dy
        x1, y1 = left + far * dx, bottom + far * dy
        top_face = [
            (x0, y0 - height),
            (x0 + width, y0 - height),
            (x1 + width, y1 - height),
            (x1, y1 - height),
        ]
        side_face = [
            (x0 + width, y0),
            (x1 + width, y1),
            (x1 + width, y1 - height),
            (x0 + width, y0 - height),
        ]
        front_face = [(x0, y0), (x0 + width, y0), (x0 + width, y0 - height), (x0, y0 - height)]
        for face, shade in ((top_face, 0.35), (side_face, -0.12), (front_face, 0.0)):
            axes.add_patch(
                Polygon(
                    face,
                    closed=True,
                    facecolor=_shade(fill, shade),
                    edgecolor=edge,
                    linewidth=1.2,
                    joinstyle="round",
                )
            )
    return dx, dy


def _shade(colour: str, amount: float) -> tuple[float, float, float]:
    """Lighten (amount > 0, towards white) or darken (amount < 0, towards black) a colour."""
    rgb = np.array(matplotlib.colors.to_rgb(colour))
    target = np.ones(3) if amount > 0 else np.zeros(3)
    mixed = rgb + abs(amount) * (target - rgb)
    return tuple(float(channel) for channel in mixed)


def _pill(
    axes: Axes,
    centre_x: float,
    centre_y: float,
    width: float,
    height: float,
    fill: str,
    edge: str,
) -> None:
    """A rounded rectangle (a layer block in the model diagram)."""
    axes.add_patch(
        FancyBboxPatch(
            (centre_x - width / 2, centre_y - height / 2),
            width,
            height,
            boxstyle="round,pad=0,rounding_size=1.0",
            facecolor=fill,
            edgecolor=edge,
            linewidth=1.8,
        )
    )


# --------------------------------------------------------------------------- zero_padding.png

PAD_EXAMPLE = 2
PAD_IMAGE_SIZE = 8


def synthetic_rgb_image(size: int = PAD_IMAGE_SIZE) -> np.ndarray:
    """A colourful (size, size, 3) image in [0, 1]: hues sweep softly along the diagonal."""
    rows, cols = np.mgrid[0:size, 0:size] / (size - 1)
    hue = 0.02 + 0.68 * (rows + cols) / 2
    saturation = 0.45 + 0.25 * rows
    value = 0.97 - 0.12 * cols
    return hsv_to_rgb(np.stack([hue, saturation, value], axis=-1))


def _rgb_fills(image: np.ndarray) -> list[list[tuple[float, float, float]]]:
    return [[tuple(float(v) for v in pixel) for pixel in row] for row in image]


def draw_zero_padding() -> bytes:
    """zero_padding.png: an (8, 8, 3) RGB image before and after zero padding with pad = 2."""
    pad = PAD_EXAMPLE
    image = synthetic_rgb_image()
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    size, padded_size = image.shape[0], padded.shape[0]
    with _house_style():
        figure, axes = _board(41)
        cell = 2.3
        top = 5.5
        title_y = top - 2.4
        # Before: the image, centred vertically against the padded one.
        before_left, before_top = 3, top + pad * cell
        _grid(axes, before_left, before_top, cell, _rgb_fills(image), edge="white", linewidth=0.6)
        _outline(axes, before_left, before_top, size * cell, size * cell, INK, linewidth=1.2)
        _code(
            axes,
            before_left + size * cell / 2,
            before_top - 2.4,
            f"X[i]: {image.shape}",
            fontsize=13,
            weight="bold",
        )
        arrow_y = top + padded_size * cell / 2
        _arrow(axes, (before_left + size * cell + 1.5, arrow_y), (30.5, arrow_y), linewidth=2.5)
        _code(axes, 25.8, arrow_y - 2, f"pad = {pad}", fontsize=12)

        # After: the padded image; the border is zeros, i.e. black in every channel.
        after_left = 32
        _grid(axes, after_left, top, cell, _rgb_fills(padded), edge="#52606d", linewidth=0.6)
        _outline(
            axes,
            after_left + pad * cell,
            top + pad * cell,
            size * cell,
            size * cell,
            "white",
            linewidth=1.5,
            linestyle=(0, (3, 2)),
        )
        _code(
            axes,
            after_left + padded_size * cell / 2,
            title_y,
            f"X_pad[i]: {padded.shape}",
            fontsize=13,
            weight="bold",
        )
        # Dimension marks for the pad under the bottom-left corner.
        bottom = top + padded_size * cell
        for offset in (0, pad * cell):
            axes.plot(
                [after_left + offset] * 2, [bottom + 0.4, bottom + 1.4], color=INK, linewidth=1
            )
        axes.plot([after_left, after_left + pad * cell], [bottom + 0.9] * 2, color=INK, linewidth=1)
        _text(
            axes,
            after_left + pad * cell + 0.8,
            bottom + 0.95,
            f"pad = {pad} zeros",
            fontsize=10,
            ha="left",
        )

        # Right: the three channels of X_pad[i] (channels-last slices), each padded alike.
        ramps = ((1, 0, 0), (0, 1, 0), (0, 0, 1))
        names = ("red", "green", "blue")
        small = 0.8
        slice_left = 64.0
        for channel, (ramp, name) in enumerate(zip(ramps, names, strict=True)):
            slice_top = top + channel * (padded_size * small + 0.9)
            plane = padded[..., channel : channel + 1] * np.array(ramp)
            _grid(
                axes, slice_left, slice_top, small, _rgb_fills(plane), edge="#3e4c59", linewidth=0.3
            )
            middle = slice_top + padded_size * small / 2
            label_left = slice_left + padded_size * small + 1.0
            _code(
                axes,
                label_left,
                middle - 0.9,
                f"X_pad[i, :, :, {channel}]",
                fontsize=9.5,
                ha="left",
            )
            _text(
                axes,
                label_left,
                middle + 0.9,
                f"{name} channel",
                fontsize=9.5,
                ha="left",
                color=MUTED,
            )
        _text(
            axes,
            WIDTH_UNITS / 2,
            38.3,
            "Height and width grow by 2 × pad; the 3 channels are padded alike and none is added.",
            fontsize=11.5,
            color=MUTED,
        )
        return _png_bytes(figure)


# --------------------------------------------------------------------------- conv_sliding.gif

SLIDING_INPUT = np.array(
    [
        [3, 3, 2, 1, 0],
        [3, 3, 2, 0, 0],
        [2, 3, 3, 1, 0],
        [3, 2, 2, 0, 1],
        [3, 3, 1, 0, 0],
    ]
)
# A vertical-edge detector: it answers strongly where bright columns meet dark ones.
SLIDING_FILTER = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]])
SLIDING_BIAS = 1
SLIDING_STRIDE = 1
SLIDING_FRAME_MS = 1100
SLIDING_LAST_FRAME_MS = 2600


def sliding_output() -> np.ndarray:
    """The (3, 3) output of SLIDING_FILTER over SLIDING_INPUT with stride 1, no padding."""
    f = SLIDING_FILTER.shape[0]
    n_out = (SLIDING_INPUT.shape[0] - f) // SLIDING_STRIDE + 1
    output = np.zeros((n_out, n_out), dtype=int)
    for h in range(n_out):
        for w in range(n_out):
            window = SLIDING_INPUT[h : h + f, w : w + f]
            output[h, w] = int(np.sum(window * SLIDING_FILTER)) + SLIDING_BIAS
    return output


def sliding_positions() -> list[tuple[int, int]]:
    """Every (h, w) of the output in row-major order: one GIF frame each."""
    n_out = sliding_output().shape[0]
    return [(h, w) for h in range(n_out) for w in range(n_out)]


def _number(value: int) -> str:
    """An integer as typeset text: a true minus sign, not a hyphen."""
    return str(value).replace("-", "\u2212")


def _sliding_frame(h: int, w: int) -> Image.Image:
    """One frame: the window at output position (h, w) and the output filled up to it."""
    f = SLIDING_FILTER.shape[0]
    n_in = SLIDING_INPUT.shape[0]
    output = sliding_output()
    n_out = output.shape[0]
    window = SLIDING_INPUT[h : h + f, w : w + f]
    products = window * SLIDING_FILTER
    total = int(products.sum())
    with _house_style():
        figure, axes = _board(36)
        top = 8.5
        # Input with the window.
        cell = 4.6
        in_left = 2.5
        fills = [
            [WINDOW_FILL if h <= r < h + f and w <= c < w + f else INPUT_FILL for c in range(n_in)]
            for r in range(n_in)
        ]
        labels = [[str(v) for v in row] for row in SLIDING_INPUT]
        _grid(axes, in_left, top, cell, fills, labels, fontsize=14)
        _outline(
            axes, in_left + w * cell, top + h * cell, f * cell, f * cell, WINDOW, linewidth=3.5
        )
        _grid_title(axes, in_left, top, n_in * cell, 3.6, f"a_prev  ({n_in} × {n_in})")
        _code(
            axes,
            in_left + n_in * cell / 2,
            top - 1.5,
            f"window rows {h}:{h + f}, cols {w}:{w + f}",
            fontsize=10.5,
            color=WINDOW,
        )

        small = 3.6
        mid_y = top + n_in * cell / 2
        filter_top = mid_y - f * small / 2

        def small_grid(*, left, sign_x, sign, fill, values, title, caption, code_title=True):
            """The sign before it, then an f x f grid of ``values`` with its title and caption."""
            _text(axes, sign_x, mid_y, sign, fontsize=22, color=MUTED)
            fills = [[fill] * f for _ in range(f)]
            labels = [[_number(v) for v in row] for row in values]
            _grid(axes, left, filter_top, small, fills, labels, fontsize=13)
            _grid_title(axes, left, filter_top, f * small, 1.7, title, code=code_title)
            _code(axes, left + f * small / 2, filter_top + f * small + 1.8, caption, fontsize=12)

        small_grid(  # the filter
            left=31.0,
            sign_x=28.6,
            sign="×",
            fill=WINDOW_FILL,
            values=SLIDING_FILTER,
            title=f"W  ({f} × {f})",
            caption=f"b = {SLIDING_BIAS}",
        )
        products_left = 47.5
        small_grid(  # the element-wise products
            left=products_left,
            sign_x=45.0,
            sign="=",
            fill="#fff4ea",
            values=products,
            title="products",
            caption=f"sum = {total}",
            code_title=False,
        )

        # Sum plus bias into the output cell.
        out_cell = 4.6
        out_left = 74.0
        out_top = mid_y - n_out * out_cell / 2
        _arrow(
            axes,
            (products_left + f * small + 1.2, mid_y),
            (out_left - 1.2, mid_y),
            OUTPUT,
            linewidth=2.5,
        )
        _code(
            axes,
            (products_left + f * small + out_left) / 2,
            mid_y - 2.1,
            f"{total} + {SLIDING_BIAS}",
            fontsize=12,
            color=OUTPUT,
        )
        _code(
            axes,
            (products_left + f * small + out_left) / 2,
            mid_y + 2.2,
            f"= {total + SLIDING_BIAS}",
            fontsize=12,
            color=OUTPUT,
            weight="bold",
        )
        done = {(r, c) for r in range(n_out) for c in range(n_out) if (r, c) <= (h, w)}
        out_fills = [
            [OUTPUT_FILL if (r, c) in done else "white" for c in range(n_out)] for r in range(n_out)
        ]
        out_labels = [
            [str(output[r, c]) if (r, c) in done else "" for c in range(n_out)]
            for r in range(n_out)
        ]
        _grid(axes, out_left, out_top, out_cell, out_fills, out_labels, fontsize=14)
        _outline(
            axes,
            out_left + w * out_cell,
            out_top + h * out_cell,
            out_cell,
            out_cell,
            OUTPUT,
            linewidth=3.5,
        )
        _grid_title(axes, out_left, out_top, n_out * out_cell, 1.7, f"Z  ({n_out} × {n_out})")
        _code(
            axes,
            out_left + n_out * out_cell / 2,
            out_top + n_out * out_cell + 1.8,
            f"Z[{h}, {w}] = {output[h, w]}",
            fontsize=12,
            color=OUTPUT,
        )

        _text(
            axes,
            WIDTH_UNITS / 2,
            top + n_in * cell + 3.2,
            "Z[h, w] = sum(window × W) + b;  stride 1: the window moves one cell at a time",
            fontsize=11.5,
            color=MUTED,
        )
        return _rgb_image(figure)


def _indexed_frames(frames: Sequence[Image.Image], size: int = 256) -> list[Image.Image]:
    """The frames as palette images sharing the ``size`` most frequent exact colours.

    The flat fills, the ink and the white background are the most frequent colours, so they are
    kept exactly (Pillow's quantisers average them: white turns light grey); anti-aliased edge
    pixels map to their nearest kept colour. No dithering: flat fills stay flat. One palette for
    every frame keeps colours steady as the animation plays.
    """
    stacked = np.stack([np.asarray(frame) for frame in frames])  # (frames, height, width, 3)
    # Pack each pixel into one integer: np.unique on a 1-D array is far faster than on rows.
    packed = (stacked.astype(np.uint32) << np.array([16, 8, 0], dtype=np.uint32)).sum(axis=-1)
    codes, inverse, counts = np.unique(packed.reshape(-1), return_inverse=True, return_counts=True)
    colours = np.stack([(codes >> 16) & 255, (codes >> 8) & 255, codes & 255], axis=-1)
    colours = colours.astype(np.int64)
    # Most frequent first; ties broken by the colour itself so the order is reproducible.
    kept = colours[np.lexsort((codes, -counts))[:size]]
    distances = ((colours[:, None, :] - kept[None, :, :]) ** 2).sum(axis=-1)
    index_of_colour = distances.argmin(axis=1).astype(np.uint8)
    indices = index_of_colour[inverse.reshape(-1)].reshape(stacked.shape[:3])
    flat_palette = [int(value) for value in kept.reshape(-1)]
    indexed = []
    for frame_indices in indices:
        image = Image.fromarray(frame_indices, mode="P")
        image.putpalette(flat_palette)
        indexed.append(image)
    return indexed


def draw_conv_sliding() -> bytes:
    """conv_sliding.gif: a 3x3 filter sliding over a 5x5 input, one frame per output cell."""
    indexed = _indexed_frames([_sliding_frame(h, w) for h, w in sliding_positions()])
    durations = [SLIDING_FRAME_MS] * (len(indexed) - 1) + [SLIDING_LAST_FRAME_MS]
    buffer = io.BytesIO()
    indexed[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=indexed[1:],
        duration=durations,
        loop=0,  # forever
        optimize=False,
        disposal=1,
    )
    return buffer.getvalue()


# --------------------------------------------------------------------------- slice_corners.png

CORNERS_INPUT_SIZE = 4
CORNERS_PAD = 1
CORNERS_F = 2
CORNERS_STRIDE = 2
CORNERS_POSITION = (1, 2)  # (h, w): different row and column so the two formulas differ


def draw_slice_corners() -> bytes:
    """slice_corners.png: the slice of output cell (h, w) = (1, 2) on a padded 6x6 grid."""
    pad, f, stride = CORNERS_PAD, CORNERS_F, CORNERS_STRIDE
    h, w = CORNERS_POSITION
    n_padded = CORNERS_INPUT_SIZE + 2 * pad
    n_out = (CORNERS_INPUT_SIZE + 2 * pad - f) // stride + 1
    vert_start, horiz_start = h * stride, w * stride
    vert_end, horiz_end = vert_start + f, horiz_start + f

    def is_pad(row: int, col: int) -> bool:
        return min(row, col) < pad or max(row, col) >= n_padded - pad

    def in_slice(row: int, col: int) -> bool:
        return vert_start <= row < vert_end and horiz_start <= col < horiz_end

    with _house_style():
        figure, axes = _board(44)
        cell = 4.4
        left, top = 19.5, 8.0
        fills = [
            [
                WINDOW_FILL if in_slice(r, c) else (PAD_FILL if is_pad(r, c) else INPUT_FILL)
                for c in range(n_padded)
            ]
            for r in range(n_padded)
        ]
        labels = [["0" if is_pad(r, c) else "" for c in range(n_padded)] for r in range(n_padded)]
        _grid(axes, left, top, cell, fills, labels, fontsize=11, label_colour=MUTED)
        _outline(
            axes,
            left + horiz_start * cell,
            top + vert_start * cell,
            f * cell,
            f * cell,
            WINDOW,
            linewidth=3.5,
        )
        _grid_indices(axes, left, top, cell, n_padded)
        _grid_title(
            axes,
            left,
            top,
            n_padded * cell,
            4.4,
            f"a_prev_pad  ({n_padded} × {n_padded}, pad = {pad})",
        )

        # The corners are grid lines: start is the first index inside, end the first outside.
        grid_right = left + n_padded * cell
        grid_bottom = top + n_padded * cell
        dashes = (0, (4, 3))
        for value, name in ((vert_start, "vert_start"), (vert_end, "vert_end")):
            y = top + value * cell
            axes.plot(
                [left - 3.4, grid_right + 1.0],
                [y, y],
                color=WINDOW,
                linewidth=1.6,
                linestyle=dashes,
                zorder=6,
            )
            _code(
                axes,
                left - 3.8,
                y,
                f"{name} = {value}",
                fontsize=10.5,
                color=WINDOW,
                ha="right",
                weight="bold",
            )
        # Staggered so the two labels, one filter width apart, never collide.
        for drop, (value, name) in enumerate(
            ((horiz_start, "horiz_start"), (horiz_end, "horiz_end"))
        ):
            x = left + value * cell
            label_y = grid_bottom + 2.2 + 2.6 * drop
            axes.plot(
                [x, x],
                [top - 0.3, label_y - 1.0],
                color=WINDOW,
                linewidth=1.6,
                linestyle=dashes,
                zorder=6,
            )
            _code(axes, x, label_y, f"{name} = {value}", fontsize=10.5, color=WINDOW, weight="bold")
        _code(
            axes,
            grid_right + 1.6,
            top + (vert_start + f / 2) * cell,
            f"→ Z[{h}, {w}]",
            fontsize=11.5,
            color=OUTPUT,
            weight="bold",
            ha="left",
        )

        # The output, with the cell this slice produces.
        out_left, out_top = 65.0, top
        out_fills = [
            [OUTPUT_FILL if (r, c) == (h, w) else "white" for c in range(n_out)]
            for r in range(n_out)
        ]
        _grid(axes, out_left, out_top, cell, out_fills)
        _outline(axes, out_left + w * cell, out_top + h * cell, cell, cell, OUTPUT, linewidth=3.0)
        _grid_indices(axes, out_left, out_top, cell, n_out)
        _grid_title(axes, out_left, out_top, n_out * cell, 4.4, f"Z  ({n_out} × {n_out})")

        # The formulas, evaluated for this (h, w).
        lines = [
            (f"h = {h}, w = {w}, f = {f}, stride = {stride}", MUTED),
            (f"vert_start  = h * stride      = {h} * {stride} = {vert_start}", INK),
            (f"vert_end    = vert_start + f  = {vert_start} + {f} = {vert_end}", INK),
            (f"horiz_start = w * stride      = {w} * {stride} = {horiz_start}", INK),
            (f"horiz_end   = horiz_start + f = {horiz_start} + {f} = {horiz_end}", INK),
            (f"slice: a_prev_pad[{vert_start}:{vert_end}, {horiz_start}:{horiz_end}, :]", WINDOW),
        ]
        for index, (line, colour) in enumerate(lines):
            _code(axes, 53.0, 24.2 + index * 2.45, line, fontsize=10, ha="left", color=colour)
        return _png_bytes(figure)


# --------------------------------------------------------------------------- conv_volume.png


def _front_grid(
    axes: Axes, left: float, bottom: float, rows: int, cols: int, unit: float, colour: str
) -> None:
    """Thin lines splitting a box's front face into rows x cols elements."""
    for step in range(1, cols):
        axes.plot(
            [left + step * unit] * 2, [bottom, bottom - rows * unit], color=colour, linewidth=0.6
        )
    for step in range(1, rows):
        axes.plot(
            [left, left + cols * unit], [bottom - step * unit] * 2, color=colour, linewidth=0.6
        )


def draw_conv_volume() -> bytes:
    """conv_volume.png: a (6, 6, 3) volume convolved with 2 filters (3, 3, 3) into (4, 4, 2)."""
    n_prev, f, channels_prev, n_out, channels = 6, 3, 3, 4, 2
    with _house_style():
        figure, axes = _board(38)
        unit = 2.2  # drawing units per array element, the same for every volume
        middle = 13.6  # vertical centre of the front faces
        label_y = (24.5, 27.0, 29.2, 31.4)

        # Input volume: one slab per channel, and the window at rows 0:3, cols 0:3 through
        # every channel (a filter always spans the whole depth).
        in_left, in_bottom = 6.0, middle + n_prev * unit / 2
        dx, dy = _box3d(
            axes,
            in_left,
            in_bottom,
            n_prev * unit,
            n_prev * unit,
            channels_prev * unit,
            INPUT_FILL,
            slabs=(INPUT_FILL,) * channels_prev,
        )
        _front_grid(axes, in_left, in_bottom, n_prev, n_prev, unit, "#9aa5b1")
        in_top = in_bottom - n_prev * unit
        window = [
            (in_left, in_top + f * unit),
            (in_left, in_top),
            (in_left + dx, in_top + dy),
            (in_left + f * unit + dx, in_top + dy),
            (in_left + f * unit, in_top),
            (in_left + f * unit, in_top + f * unit),
        ]
        axes.add_patch(
            Polygon(
                window,
                closed=True,
                fill=False,
                edgecolor=WINDOW,
                linewidth=2.5,
                zorder=5,
                joinstyle="miter",
            )
        )
        axes.plot(
            [in_left, in_left + f * unit], [in_top, in_top], color=WINDOW, linewidth=2.5, zorder=5
        )
        centre = in_left + (n_prev * unit + dx) / 2
        _code(axes, centre, label_y[0], "A_prev[i]", fontsize=12.5, weight="bold")
        _code(axes, centre, label_y[1], "(n_H_prev, n_W_prev, n_C_prev)", fontsize=10)
        _code(
            axes,
            centre,
            label_y[2],
            f"= {(n_prev, n_prev, channels_prev)}",
            fontsize=10,
            color=MUTED,
        )

        # The filters, side by side, at the input's scale.
        _text(axes, 28.0, middle, "∗", fontsize=26, color=MUTED)
        filter_left = 32.0
        filter_bottom = middle + f * unit / 2
        filter_step = f * unit + 0.55 * channels_prev * unit + 3.0
        for index, (fill, edge) in enumerate(((WINDOW_FILL, WINDOW), (SECOND_FILL, SECOND))):
            x = filter_left + index * filter_step
            _box3d(
                axes,
                x,
                filter_bottom,
                f * unit,
                f * unit,
                channels_prev * unit,
                fill,
                slabs=(fill,) * channels_prev,
                edge=edge,
            )
            _front_grid(axes, x, filter_bottom, f, f, unit, edge)
            _code(
                axes,
                x + (f * unit + dx) / 2,
                filter_bottom + 2.0,
                f"W[:, :, :, {index}]",
                fontsize=9.5,
                color=edge,
            )
            _code(
                axes,
                x + (f * unit + dx) / 2,
                filter_bottom + 4.0,
                f"b[..., {index}]",
                fontsize=9.5,
                color=edge,
            )
        centre = filter_left + (2 * filter_step - 3.0) / 2
        _text(axes, centre, label_y[0], f"n_C = {channels} filters", fontsize=12.5, weight="bold")
        _code(axes, centre, label_y[1], "W: (f, f, n_C_prev, n_C)", fontsize=10)
        _code(
            axes,
            centre,
            label_y[2],
            f"= {(f, f, channels_prev, channels)}",
            fontsize=10,
            color=MUTED,
        )

        # Output: channel c is filter c's map (plus its bias b[..., c]).
        _arrow(axes, (57.5, middle), (63.0, middle), linewidth=2.5)
        out_left, out_bottom = 65.0, middle + n_out * unit / 2
        out_dx, _ = _box3d(
            axes,
            out_left,
            out_bottom,
            n_out * unit,
            n_out * unit,
            channels * unit,
            OUTPUT_FILL,
            slabs=(WINDOW_FILL, SECOND_FILL),
        )
        _front_grid(axes, out_left, out_bottom, n_out, n_out, unit, "#c7a27c")
        _outline(axes, out_left, out_bottom - n_out * unit, unit, unit, OUTPUT, linewidth=2.5)
        legend_left = out_left + n_out * unit + out_dx + 1.8
        for index, colour in enumerate((WINDOW, SECOND)):
            _code(
                axes,
                legend_left,
                middle - 1.2 + 2.4 * index,
                f"Z[i, :, :, {index}]",
                fontsize=9.5,
                color=colour,
                ha="left",
            )
        centre = out_left + (n_out * unit + out_dx) / 2
        _code(axes, centre, label_y[0], "Z[i]", fontsize=12.5, weight="bold")
        _code(axes, centre, label_y[1], "(n_H, n_W, n_C)", fontsize=10)
        _code(axes, centre, label_y[2], f"= {(n_out, n_out, channels)}", fontsize=10, color=MUTED)

        _text(
            axes,
            WIDTH_UNITS / 2,
            35.0,
            "n_H = ⌊(n_H_prev − f + 2 × pad) / stride⌋ + 1 = "
            f"⌊({n_prev} − {f} + 0) / 1⌋ + 1 = {n_out},  "
            "n_C = number of filters",
            fontsize=11.5,
            color=MUTED,
        )
        return _png_bytes(figure)


# --------------------------------------------------------------------------- pooling.png

POOLING_INPUT = np.array(
    [
        [1, 3, 2, 1],
        [4, 6, 5, 0],
        [7, 2, 8, 3],
        [1, 0, 4, 6],
    ]
)


CORRELATION_FILTER = np.arange(1, 10).reshape(3, 3)


def draw_cross_correlation() -> bytes:
    """cross_correlation.png: the filter as used by conv_forward and the frameworks
    (cross-correlation) next to the filter turned by 180 degrees (convolution in mathematics)."""
    W = CORRELATION_FILTER
    flipped = W[::-1, ::-1]
    with _house_style():
        figure, axes = _board(33)
        cell = 5.0
        size = cell * W.shape[0]
        tops = 7.0
        lefts = (14.0, 61.0)
        for left, values, fill, edge in (
            (lefts[0], W, OUTPUT_FILL, OUTPUT),
            (lefts[1], flipped, SECOND_FILL, SECOND),
        ):
            labels = [[str(v) for v in row] for row in values]
            fills = [[fill] * values.shape[1] for _ in range(values.shape[0])]
            _grid(axes, left, tops, cell, fills, labels, fontsize=15, edge="white", linewidth=2)
            _outline(axes, left, tops, size, size, edge, linewidth=2.5)
        _grid_title(axes, lefts[0], tops, size, 2.5, "W")
        _grid_title(axes, lefts[1], tops, size, 2.5, "W[::-1, ::-1]")
        middle = tops + size / 2
        _arrow(axes, (lefts[0] + size + 3, middle), (lefts[1] - 3, middle))
        _text(axes, (lefts[0] + size + lefts[1]) / 2, middle - 2.2, "turned by 180 degrees")
        captions = (
            (
                lefts[0],
                "cross-correlation: W as it is",
                "conv_forward, PyTorch conv2d, Keras Conv2D",
            ),
            (
                lefts[1],
                "convolution in mathematics",
                "uses the turned filter (scipy convolve2d)",
            ),
        )
        for left, title, detail in captions:
            _text(axes, left + size / 2, tops + size + 3.5, title, weight="bold")
            _text(axes, left + size / 2, tops + size + 6.5, detail, color=MUTED, fontsize=11)
        return _png_bytes(figure)


def draw_pooling() -> bytes:
    """pooling.png: max and average pooling of a 4x4 input with f = 2, stride = 2."""
    f = stride = 2
    n_in = POOLING_INPUT.shape[0]
    n_out = (n_in - f) // stride + 1
    windows = [
        [
            POOLING_INPUT[r * stride : r * stride + f, c * stride : c * stride + f]
            for c in range(n_out)
        ]
        for r in range(n_out)
    ]
    with _house_style():
        figure, axes = _board(36)
        cell = 5.0
        left, top = 10.0, 8.0
        window_of = [
            [(r // stride) * n_out + c // stride for c in range(n_in)] for r in range(n_in)
        ]
        fills = [[POOL_WINDOW_FILLS[window_of[r][c]] for c in range(n_in)] for r in range(n_in)]
        labels = [[str(v) for v in row] for row in POOLING_INPUT]
        _grid(axes, left, top, cell, fills, labels, fontsize=15, edge="white", linewidth=2)
        for r in range(n_out):
            for c in range(n_out):
                edge = POOL_WINDOW_EDGES[r * n_out + c]
                _outline(
                    axes,
                    left + c * f * cell,
                    top + r * f * cell,
                    f * cell,
                    f * cell,
                    edge,
                    linewidth=2.5,
                )
                # Ring the maximum of each window: the value max pooling keeps.
                block = windows[r][c]
                max_row, max_col = np.unravel_index(int(np.argmax(block)), block.shape)
                axes.add_patch(
                    Circle(
                        (
                            left + (c * f + max_col + 0.5) * cell,
                            top + (r * f + max_row + 0.5) * cell,
                        ),
                        1.6,
                        fill=False,
                        edgecolor=edge,
                        linewidth=2,
                        zorder=6,
                    )
                )
        _grid_title(axes, left, top, n_in * cell, 3.0, f"A_prev  ({n_in} × {n_in})")
        _code(
            axes,
            left + n_in * cell / 2,
            top + n_in * cell + 2.4,
            "f = 2, stride = 2",
            fontsize=11,
            color=MUTED,
        )

        out_cell = 5.6
        out_left = 57.0
        first = windows[0][0]
        terms = ", ".join(str(v) for v in first.reshape(-1))
        plus = " + ".join(str(v) for v in first.reshape(-1))
        outputs = (
            (
                "max pooling",
                lambda block: f"{block.max():g}",
                3.0,
                f"max({terms}) = {first.max():g}",
                -0.12,
                7.2,
            ),
            (
                "average pooling",
                lambda block: f"{block.mean():g}",
                21.6,
                f"({plus}) / 4 = {first.mean():g}",
                0.12,
                31.6,
            ),
        )
        for title, value_of, out_top, example, bend, example_y in outputs:
            out_fills = [
                [POOL_WINDOW_FILLS[r * n_out + c] for c in range(n_out)] for r in range(n_out)
            ]
            out_labels = [[value_of(windows[r][c]) for c in range(n_out)] for r in range(n_out)]
            _grid(
                axes,
                out_left,
                out_top,
                out_cell,
                out_fills,
                out_labels,
                fontsize=14,
                edge="white",
                linewidth=2,
            )
            for r in range(n_out):
                for c in range(n_out):
                    _outline(
                        axes,
                        out_left + c * out_cell,
                        out_top + r * out_cell,
                        out_cell,
                        out_cell,
                        POOL_WINDOW_EDGES[r * n_out + c],
                        linewidth=2.5,
                    )
            _text(
                axes,
                out_left + n_out * out_cell + 2.0,
                out_top + out_cell - 1.0,
                title,
                fontsize=12.5,
                weight="bold",
                ha="left",
            )
            _code(
                axes,
                out_left + n_out * out_cell + 2.0,
                out_top + out_cell + 1.4,
                f"({n_out} × {n_out})",
                fontsize=10.5,
                color=MUTED,
                ha="left",
            )
            _arrow(
                axes,
                (left + n_in * cell + 2.0, top + n_in * cell / 2),
                (out_left - 1.5, out_top + out_cell),
                connection=f"arc3,rad={bend}",
            )
            _code(axes, 42.5, example_y, example, fontsize=10.5, color=POOL_WINDOW_EDGES[0])
        return _png_bytes(figure)


# --------------------------------------------------------------------------- cnn_model.png

# (block, detail, output shape, fill, edge): the model the next notebook builds in a framework.
MODEL_LAYERS = (
    ("INPUT", "an RGB image", "64 × 64 × 3", "#f5f7fa", GRID_LINE),
    ("CONV", "5×5, 8 filters\nstride 1, pad 2", "64 × 64 × 8", INPUT_FILL, "#4e79a7"),
    ("RELU", "max(0, z)", "64 × 64 × 8", OUTPUT_FILL, OUTPUT),
    ("POOL", "max, f = 2\nstride 2", "32 × 32 × 8", WINDOW_FILL, WINDOW),
    ("CONV", "3×3, 16 filters\nstride 1, pad 1", "32 × 32 × 16", INPUT_FILL, "#4e79a7"),
    ("RELU", "max(0, z)", "32 × 32 × 16", OUTPUT_FILL, OUTPUT),
    ("POOL", "max, f = 2\nstride 2", "16 × 16 × 16", WINDOW_FILL, WINDOW),
    ("FC", "flatten 4096\n→ 120 units", "120", SECOND_FILL, SECOND),
    ("FC", "120 → 6 units", "6", SECOND_FILL, SECOND),
    ("SOFTMAX", "class\nprobabilities", "6", "#f6d0d1", "#e15759"),
)
MODEL_BLOCKS_PER_ROW = 5


def draw_cnn_model() -> bytes:
    """cnn_model.png: CONV-RELU-POOL-CONV-RELU-POOL-FC-FC-SOFTMAX in two rows, with shapes."""
    with _house_style():
        figure, axes = _board(40)
        block_w, block_h, gap = 13.4, 12.0, 4.0
        first_x = (WIDTH_UNITS - MODEL_BLOCKS_PER_ROW * block_w - 4 * gap) / 2 + block_w / 2
        row_y = (9.0, 29.0)
        centres = [
            (
                first_x + (index % MODEL_BLOCKS_PER_ROW) * (block_w + gap),
                row_y[index // MODEL_BLOCKS_PER_ROW],
            )
            for index in range(len(MODEL_LAYERS))
        ]
        for (name, detail, shape, fill, edge), (x, y) in zip(MODEL_LAYERS, centres, strict=True):
            _pill(axes, x, y, block_w, block_h, fill, edge)
            _text(axes, x, y - 3.6, name, fontsize=12.5, weight="bold", color=edge)
            _text(axes, x, y - 0.2, detail, fontsize=8.5, color=INK, linespacing=1.15)
            axes.plot(
                [x - block_w / 2 + 1.2, x + block_w / 2 - 1.2],
                [y + 2.5] * 2,
                color=edge,
                linewidth=0.8,
            )
            _code(axes, x, y + 4.2, shape, fontsize=9.5, color=INK, weight="bold")
        for (x, y), (next_x, next_y) in zip(centres, centres[1:], strict=False):
            if next_y == y:
                _arrow(axes, (x + block_w / 2 + 0.3, y), (next_x - block_w / 2 - 0.3, next_y))
            else:
                # Wrap from the end of the first row to the start of the second.
                middle = (y + next_y) / 2
                axes.plot(
                    [x, x, next_x],
                    [y + block_h / 2 + 0.3, middle, middle],
                    color=MUTED,
                    linewidth=2.0,
                    solid_joinstyle="round",
                )
                _arrow(axes, (next_x, middle), (next_x, next_y - block_h / 2 - 0.3))
        _text(
            axes,
            WIDTH_UNITS / 2,
            38.0,
            "Shapes are per example, channels-last (n_H × n_W × n_C); the batch dimension m is "
            "left out.",
            fontsize=11,
            color=MUTED,
        )
        return _png_bytes(figure)


# --------------------------------------------------------------------------- the list


@dataclass(frozen=True)
class NotebookFigure:
    """One file of images/: its name, the pure function drawing its bytes, its alt text."""

    filename: str
    draw: Callable[[], bytes]
    alt: str


# Notebook order. The alt text is what a screen reader says: it states what the figure teaches.
FIGURES: tuple[NotebookFigure, ...] = (
    NotebookFigure(
        "zero_padding.png",
        draw_zero_padding,
        "Zero padding with pad = 2: an 8 x 8 RGB image X[i] of shape (8, 8, 3) becomes X_pad[i] "
        "of shape (12, 12, 3), framed by a border two pixels wide of zeros (black) on every side; "
        "each of the three channels is padded the same way and no channel is added.",
    ),
    NotebookFigure(
        "conv_sliding.gif",
        draw_conv_sliding,
        "Animation of a 3 x 3 filter W sliding with stride 1 over a 5 x 5 input: at each of the "
        "9 positions the window is multiplied element-wise by W, the 9 products are summed, the "
        "bias b = 1 is added, and the result fills the matching cell of the 3 x 3 output Z.",
    ),
    NotebookFigure(
        "slice_corners.png",
        draw_slice_corners,
        "A 6 x 6 padded input (a 4 x 4 input with pad = 1) and its 3 x 3 output for f = 2, "
        "stride = 2. For output cell h = 1, w = 2 the slice spans rows 2 to 4 and columns 4 to 6 "
        "(end excluded): vert_start = h * stride = 2, vert_end = vert_start + f = 4, "
        "horiz_start = w * stride = 4, horiz_end = horiz_start + f = 6.",
    ),
    NotebookFigure(
        "conv_volume.png",
        draw_conv_volume,
        "Convolution over a volume: an input A_prev[i] of shape (n_H_prev, n_W_prev, n_C_prev) "
        "= (6, 6, 3) is convolved with n_C = 2 filters of shape (f, f, n_C_prev) = (3, 3, 3), "
        "each spanning all input channels; each filter with its bias produces one channel of "
        "the output Z[i] of shape (n_H, n_W, n_C) = (4, 4, 2).",
    ),
    NotebookFigure(
        "cross_correlation.png",
        draw_cross_correlation,
        "A 3 x 3 filter W with the numbers 1 to 9 row by row, and the same filter turned by 180 "
        "degrees, W[::-1, ::-1], with 9 to 1. Cross-correlation lays W over each window as it "
        "is: that is what conv_forward, PyTorch's conv2d and Keras's Conv2D compute. Convolution "
        "in mathematics (scipy's convolve2d) lays the turned filter over each window instead.",
    ),
    NotebookFigure(
        "pooling.png",
        draw_pooling,
        "Max and average pooling of a 4 x 4 input with f = 2 and stride = 2: the input splits "
        "into four coloured 2 x 2 windows; max pooling keeps each window's largest value "
        "(6, 5, 7, 8) and average pooling its mean (3.5, 2, 2.5, 5.25), giving two 2 x 2 outputs.",
    ),
    NotebookFigure(
        "cnn_model.png",
        draw_cnn_model,
        "Block diagram of the model: a 64 x 64 x 3 input goes through CONV (5 x 5, 8 filters) "
        "-> RELU -> max POOL (64 x 64 x 8 to 32 x 32 x 8) -> CONV (3 x 3, 16 filters) -> RELU -> "
        "max POOL (16 x 16 x 16) -> flatten to 4096 -> FC (120) -> FC (6) -> SOFTMAX over 6 "
        "classes.",
    ),
)

ALT_TEXT: dict[str, str] = {figure.filename: figure.alt for figure in FIGURES}


def write_figures(directory: Path) -> list[Path]:
    """Draw every figure into ``directory`` (created if needed); return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for figure in FIGURES:
        path = directory / figure.filename
        path.write_bytes(figure.draw())
        written.append(path)
    return written


def compare(directory: Path, fresh: Path) -> list[str]:
    """How ``directory`` differs from the drawing in ``fresh``: one line per file, empty if none.

    Files that no figure draws count as differences too: images/ ships to students as is.
    """
    problems = []
    for figure in FIGURES:
        kept = directory / figure.filename
        if not kept.is_file():
            problems.append(f"{figure.filename}: missing")
        elif kept.read_bytes() != (fresh / figure.filename).read_bytes():
            problems.append(f"{figure.filename}: differs from a fresh drawing")
    expected = {figure.filename for figure in FIGURES}
    if directory.is_dir():
        for path in sorted(directory.iterdir()):
            if path.name not in expected:
                problems.append(f"{path.name}: not drawn by authoring.figures (delete it)")
    return problems


def differences(directory: Path) -> list[str]:
    """Redraw every figure into a temporary directory and compare ``directory`` with it."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch)
        write_figures(fresh)
        return compare(directory, fresh)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: draw into images/, or with --check verify images/ is up to date."""
    parser = argparse.ArgumentParser(prog="python -m authoring.figures", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if images/ is out of date")
    parser.add_argument("--out", type=Path, default=IMAGES_DIR, help="target directory")
    arguments = parser.parse_args(argv)
    if arguments.check:
        problems = differences(arguments.out)
        for problem in problems:
            print(f"{arguments.out}/{problem}", file=sys.stderr)
        if problems:
            print("images/ is out of date: run `make figures` and commit it", file=sys.stderr)
            return 1
        print(f"{len(FIGURES)} figures in {arguments.out} are up to date")
        return 0
    for path in write_figures(arguments.out):
        print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
