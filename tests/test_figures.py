"""Tests for authoring.figures: reproducible bytes, committed images up to date, honest content."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib import font_manager
from PIL import Image
from scipy.signal import correlate2d

from authoring import figures

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def drawn(tmp_path_factory) -> Path:
    """One fresh drawing of every figure, shared by the tests that only read it."""
    directory = tmp_path_factory.mktemp("drawn")
    figures.write_figures(directory)
    return directory


def test_drawing_twice_gives_identical_bytes(drawn, tmp_path):
    """Does a second drawing in the same process reproduce every file byte for byte?"""
    figures.write_figures(tmp_path)
    for figure in figures.FIGURES:
        first = (drawn / figure.filename).read_bytes()
        second = (tmp_path / figure.filename).read_bytes()
        assert first == second, f"{figure.filename} differs between two drawings"


def test_committed_images_pass_check_even_under_a_hostile_matplotlibrc(tmp_path):
    """Does `python -m authoring.figures --check` pass on images/ in a fresh process whose
    matplotlibrc changes fonts, sizes and colours (so no user setting leaks into the files)?"""
    config = tmp_path / "mplconfig"
    config.mkdir()
    (config / "matplotlibrc").write_text(
        "font.family: serif\nfont.size: 20\nlines.linewidth: 6\n"
        "figure.facecolor: red\nsavefig.dpi: 37\ntext.color: green\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "authoring.figures", "--check"],
        cwd=REPO_ROOT,
        env={"PATH": "/usr/bin:/bin", "MPLCONFIGDIR": str(config), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"--check failed:\n{result.stdout}\n{result.stderr}"


def test_compare_reports_changed_missing_and_stray_files(drawn, tmp_path):
    """Does the comparison behind --check name a changed file, a missing one and a stray one?"""
    copy = tmp_path / "images"
    shutil.copytree(drawn, copy)
    assert figures.compare(copy, drawn) == []
    names = [figure.filename for figure in figures.FIGURES]
    (copy / names[0]).write_bytes(b"not a png")
    (copy / names[1]).unlink()
    (copy / "ALT_TEXT.md").write_text("stray")
    problems = figures.compare(copy, drawn)
    assert problems == [
        f"{names[0]}: differs from a fresh drawing",
        f"{names[1]}: missing",
        "ALT_TEXT.md: not drawn by authoring.figures (delete it)",
    ]


def test_check_exits_non_zero_on_an_out_of_date_directory(tmp_path, capsys, monkeypatch):
    """Does main(["--check"]) return 1 and say how to fix it when a figure is missing, and 0
    once it is drawn? (One stand-in figure keeps the test fast; the real list is tested above.)"""
    stand_in = figures.NotebookFigure("stand_in.png", lambda: b"bytes", "a stand-in figure")
    monkeypatch.setattr(figures, "FIGURES", (stand_in,))
    assert figures.main(["--check", "--out", str(tmp_path)]) == 1
    assert "make figures" in capsys.readouterr().err
    assert figures.main(["--out", str(tmp_path)]) == 0
    assert figures.main(["--check", "--out", str(tmp_path)]) == 0


@pytest.mark.parametrize("figure", figures.FIGURES, ids=lambda figure: figure.filename)
def test_each_figure_is_a_notebook_width_image_of_its_format(drawn, figure):
    """Is each file a real image of the format its name says, about notebook width (700 to
    900 px), of a sane height and a modest size?"""
    path = drawn / figure.filename
    with Image.open(path) as image:
        expected_format = {"png": "PNG", "gif": "GIF"}[path.suffix[1:]]
        assert image.format == expected_format
        width, height = image.size
    assert 700 <= width <= 900, f"{figure.filename} is {width} px wide"
    assert 250 <= height <= 500, f"{figure.filename} is {height} px high"
    assert path.stat().st_size < 500_000


def test_gif_has_one_frame_per_output_position_and_loops_forever(drawn):
    """Does the sliding animation hold one frame per output cell (3 x 3 = 9), loop forever,
    and show each frame for a readable time?"""
    positions = figures.sliding_positions()
    assert positions == [(h, w) for h in range(3) for w in range(3)]
    with Image.open(drawn / "conv_sliding.gif") as gif:
        assert gif.n_frames == len(positions)
        assert gif.info["loop"] == 0
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
    assert min(durations) >= 800


def test_gif_frames_differ_and_keep_the_white_background(drawn):
    """Does every frame show something new (the window moved) on a pure white background?"""
    frames = []
    with Image.open(drawn / "conv_sliding.gif") as gif:
        for index in range(gif.n_frames):
            gif.seek(index)
            frames.append(np.asarray(gif.convert("RGB")))
    assert all(tuple(frame[0, 0]) == (255, 255, 255) for frame in frames)
    for before, after in zip(frames, frames[1:], strict=False):
        assert not np.array_equal(before, after)


def test_sliding_numbers_are_a_true_convolution():
    """Do the numbers the animation shows equal an independent cross-correlation plus bias?"""
    expected = (
        correlate2d(figures.SLIDING_INPUT, figures.SLIDING_FILTER, mode="valid")
        + figures.SLIDING_BIAS
    )
    np.testing.assert_array_equal(figures.sliding_output(), expected)


def test_alt_text_names_every_figure_and_states_true_numbers():
    """Has every figure a distinct, substantial alt text, and are the pooling numbers it quotes
    the ones the figure computes?"""
    assert list(figures.ALT_TEXT) == [figure.filename for figure in figures.FIGURES]
    texts = list(figures.ALT_TEXT.values())
    assert len(set(texts)) == len(texts)
    assert all(len(text) > 80 for text in texts)
    windows = figures.POOLING_INPUT.reshape(2, 2, 2, 2).swapaxes(1, 2).reshape(4, 4)
    maxima = ", ".join(f"{value:g}" for value in windows.max(axis=1))
    means = ", ".join(f"{value:g}" for value in windows.mean(axis=1))
    pooling = figures.ALT_TEXT["pooling.png"]
    assert f"({maxima})" in pooling and f"({means})" in pooling


def test_images_directory_holds_exactly_the_figures():
    """Is images/ (shipped to students as is) exactly the drawn figures, nothing stale?"""
    names = sorted(path.name for path in figures.IMAGES_DIR.iterdir())
    assert names == sorted(figure.filename for figure in figures.FIGURES)


def test_fonts_resolve_to_the_files_matplotlib_bundles():
    """Inside the house style, do both fonts come from matplotlib's own data (same on every
    machine), not from whatever the system has installed?"""
    bundled = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    with figures._house_style():
        for family in ("DejaVu Sans", figures.CODE_FONT):
            found = Path(font_manager.findfont(family, fallback_to_default=False))
            assert found.parent == bundled, f"{family} resolved to {found}"


def test_module_names_each_figure_once_in_notebook_order():
    """Is FIGURES the one list: unique file names, each drawn by a function named after it?"""
    names = [figure.filename for figure in figures.FIGURES]
    assert len(set(names)) == len(names)
    for figure in figures.FIGURES:
        stem = re.sub(r"\.(png|gif)$", "", figure.filename)
        assert figure.draw.__name__ == f"draw_{stem}"
