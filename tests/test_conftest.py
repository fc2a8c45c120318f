"""Tests of the shared test helpers of tests/conftest.py: imported as the very module pytest
loaded, a recipe's scripts imported once under names that do not collide, recipe runs two at
a time."""

import sys
import threading

import pytest

from tests import conftest
from tests.conftest import logged_epochs, read_csv, recipe_env, recipe_module, run_concurrently


def test_the_helpers_come_from_the_conftest_pytest_loaded(request):
    assert sys.modules["tests.conftest"] is conftest
    assert any(plugin is conftest for plugin in request.config.pluginmanager.get_plugins())


def test_a_recipe_script_is_imported_once_under_a_name_of_its_own():
    prepare = recipe_module("IEMOCAP", "iemocap_prepare")
    assert prepare is recipe_module("IEMOCAP", "iemocap_prepare") is sys.modules["iemocap_prepare"]
    # train.py is in both recipes: each under its recipe's name, the IEMOCAP one using the
    # data preparation imported above (one module, not a copy).
    iemocap, msp = recipe_module("IEMOCAP", "train"), recipe_module("MSP-Podcast", "train")
    assert (iemocap.__name__, msp.__name__) == ("iemocap_train", "msp_podcast_train")
    assert iemocap.__file__.endswith("recipes/IEMOCAP/train.py")
    assert msp.__file__.endswith("recipes/MSP-Podcast/train.py")
    assert iemocap.prepare_iemocap is prepare.prepare_iemocap


def test_run_concurrently_runs_two_jobs_at_once_and_keeps_their_order():
    both_started = threading.Barrier(2, timeout=30)  # broken if the jobs ran one after the other

    def job(value):
        both_started.wait()
        return value

    assert run_concurrently(lambda: job("a"), lambda: job("b")) == ["a", "b"]

    def failing():
        raise ValueError("the first error")

    with pytest.raises(ValueError, match="the first error"):
        run_concurrently(failing, lambda: "done")


def test_recipe_env_logs_and_csv(tmp_path):
    env = recipe_env(tmp_path, SER_KILL_AT="x")
    assert env["PYTHONPATH"].split(":") == [str(conftest.ROOT), str(tmp_path)]
    assert (env["OMP_NUM_THREADS"], env["HF_HUB_OFFLINE"], env["SER_KILL_AT"]) == ("1", "1", "x")
    (tmp_path / "train_log.txt").write_text("epoch: 1, lr: 0.1\nepoch: 2, lr: 0.1\nepoch: 2\n")
    assert logged_epochs(tmp_path) == [1, 2, 2]
    (tmp_path / "a.csv").write_text("id,label\nx,neu\ny,ang\n")
    assert read_csv(tmp_path / "a.csv") == [
        {"id": "x", "label": "neu"},
        {"id": "y", "label": "ang"},
    ]
