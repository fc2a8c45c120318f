"""Tests of ser_modules.training.plots, ser_modules.tools.prediction_plots and
ser_modules.utils.plotting: PNGs written atomically,
no global matplotlib state touched at import."""

import json
import subprocess
import sys
from pathlib import Path

from matplotlib.image import imread

from ser_modules.tools.prediction_plots import plot_timeline
from ser_modules.training.plots import (
    plot_layer_weights,
    plot_training_curves,
    record_epoch,
)
from ser_modules.utils.plotting import new_figure, save_figure

ROOT = Path(__file__).resolve().parents[1]


def test_import_leaves_the_backend_alone_and_pyplot_unimported():
    # A fresh interpreter whose backend is set before the import, as a notebook user's would be.
    code = (
        "import sys, matplotlib; matplotlib.use('svg'); before = matplotlib.get_backend(); "
        "import ser_modules.training.plots, ser_modules.tools.prediction_plots, "
        "ser_modules.objectives.metrics; "
        "print(before, matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.split() == ["svg", "svg", "False"]


def test_plots_are_png_images(tmp_path):
    history = [
        {"epoch": e, "train": {"loss": 1.0 / e}, "valid": {"loss": 1.1 / e, "UA": 40.0 + e}}
        for e in (1, 2, 3)
    ]
    plot_training_curves(history, tmp_path / "a" / "curves.png", metrics=("loss", "UA"))
    plot_layer_weights([0.1, 0.2, 0.7], tmp_path / "weights.png")
    categorical = [
        {"start": 0.0, "end": 2.0, "label": "hap", "probabilities": {"hap": 0.7, "sad": 0.3}},
        {"start": 1.0, "end": 3.0, "label": "sad", "probabilities": {"hap": 0.4, "sad": 0.6}},
    ]
    plot_timeline(categorical, tmp_path / "timeline.png", title="t")
    for name, width in (("a/curves.png", 900), ("weights.png", 400), ("timeline.png", 1000)):
        image = imread(tmp_path / name)
        assert image.shape[1] == width and image.shape[2] in (3, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a",
        "timeline.png",
        "weights.png",
    ]  # no temporary left


def test_record_epoch_keeps_history_and_draws(tmp_path):
    record_epoch(tmp_path, 1, {"loss": 2.0}, {"loss": 1.5}, curve_metrics=("loss",))
    record_epoch(tmp_path, 2, {"loss": 1.0}, {"loss": 0.9}, curve_metrics=("loss",))
    history = json.loads((tmp_path / "history.json").read_text())
    assert [entry["epoch"] for entry in history] == [1, 2]
    assert imread(tmp_path / "training_curves.png").shape[:2] == (350, 450)


def test_save_figure_follows_the_suffix(tmp_path):
    fig = new_figure((2.0, 1.0))
    fig.subplots().plot([0, 1], [0, 1])
    save_figure(fig, tmp_path / "line.svg")
    assert (tmp_path / "line.svg").read_text().lstrip().startswith("<?xml")
    save_figure(fig, tmp_path / "line.png", dpi=50)
    assert imread(tmp_path / "line.png").shape[:2] == (50, 100)


def test_import_quiets_matplotlib_debug_and_the_torchvision_warning():
    """In a recipe's order: the imports, the hparams (SpeechBrain's train_logger: no torchvision
    warning), then logging at DEBUG (as SpeechBrain's log.txt): drawing text logs no
    font_manager lines."""
    code = (
        "import logging, sys; from ser_modules.utils.plotting import new_figure; import"
        " speechbrain.utils.train_logger; logging.basicConfig(level=logging.DEBUG,"
        " stream=sys.stdout, format='%(name)s - %(message)s'); fig = new_figure((2.0, 2.0));"
        " fig.add_subplot(1, 1, 1).set_title('x'); fig.canvas.draw();"
        " logging.getLogger('ser_modules').warning('still logged')"
    )
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    output = result.stdout + result.stderr
    assert "ser_modules - still logged" in output
    assert "matplotlib" not in output and "findfont" not in output
    assert "torchvision" not in output
