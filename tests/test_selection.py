"""Tests of ser_modules.nn.selection: the run-time feature selection (kept indices, PCA
projection, identity), its sizes, and its state (strict load into a fresh module, nested in a
model, SpeechBrain checkpoints, devices and dtypes)."""

import pytest
import torch

from ser_modules.nn.selection import FeatureSelection, kept_size, selection_method


def indices_selection(indices, input_size=10, method="ccs"):
    """A selection keeping ``indices`` of ``input_size`` channels."""
    selection = FeatureSelection(input_size, method, keep_fraction=len(indices) / input_size)
    selection.load_state_dict({"indices": torch.tensor(indices)})
    return selection


def pca_selection(input_size=6, kept=3, seed=0):
    """A selection projecting on ``kept`` random orthonormal components around a random mean."""
    g = torch.Generator().manual_seed(seed)
    components = torch.linalg.qr(
        torch.randn(input_size, input_size, generator=g, dtype=torch.float64)
    )[0][:kept]
    selection = FeatureSelection(input_size, "pca", keep_fraction=kept / input_size)
    selection.load_state_dict(
        {
            "mean": torch.randn(input_size, generator=g, dtype=torch.float64),
            "components": components.contiguous(),
        }
    )
    return selection


def test_sizes_follow_the_method_and_the_fraction():
    assert [kept_size(1024, f) for f in (1.0, 0.8, 0.6, 0.4)] == [1024, 819, 614, 410]
    assert kept_size(5, 0.5) == 2 and kept_size(10, 1e-9) == 1  # round half to even, at least 1
    for method, buffers in (
        ("ccs", {"indices": (3,)}),
        ("mis", {"indices": (3,)}),
        ("pca", {"mean": (10,), "components": (3, 10)}),
        ("none", {}),
    ):
        selection = FeatureSelection(10, method, keep_fraction=0.3)
        assert selection.input_size == 10 and selection.output_size == (
            10 if method == "none" else 3
        )
        assert {name: tuple(b.shape) for name, b in selection.state_dict().items()} == buffers
    assert FeatureSelection(4, "CCS", 0.5).method == "ccs" and selection_method(None) == "none"


@pytest.mark.parametrize(
    "bad", [0, 0.0, -0.1, 1.0001, 2, float("nan"), float("inf"), True, "0.5", None]
)
def test_invalid_fraction_is_refused(bad):
    with pytest.raises(ValueError, match="keep_fraction must be a number in \\(0, 1\\]"):
        FeatureSelection(4, "ccs", keep_fraction=bad)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown feature-selection method 'lda'"):
        FeatureSelection(4, "lda", 0.5)


def test_indices_keep_the_channels_in_order_for_every_dtype_and_shape():
    selection = indices_selection([1, 5, 8])
    for dtype in (torch.float32, torch.float64, torch.float16):
        x = torch.randn(4, 7, 10).to(dtype)
        out = selection(x)
        assert out.shape == (4, 7, 3) and out.dtype == dtype and out.device == x.device
        assert torch.equal(out, x[..., [1, 5, 8]])
    assert selection(torch.randn(3, 10)).shape == (3, 3)
    assert selection(torch.randn(2, 3, 4, 10)).shape == (2, 3, 4, 3)


def test_pca_projects_around_the_mean_in_the_input_dtype():
    selection = pca_selection()
    x = torch.randn(2, 5, 6, dtype=torch.float64)
    expected = (x - selection.mean) @ selection.components.T
    torch.testing.assert_close(selection(x), expected, rtol=0, atol=1e-12)
    out32 = selection(x.float())
    assert out32.dtype == torch.float32 and out32.shape == (2, 5, 3)
    torch.testing.assert_close(out32.double(), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError, match="floating"):
        selection(torch.ones(2, 6, dtype=torch.int64))


def test_identity_returns_its_input():
    selection = FeatureSelection(6, "none", keep_fraction=0.8)
    x = torch.randn(2, 5, 6)
    assert selection.output_size == 6 and selection(x) is x


@pytest.mark.parametrize("method", ["ccs", "pca", "none"])
def test_wrong_input_size_names_the_expected_shape(method):
    selection = FeatureSelection(4, method, keep_fraction=0.5)
    with pytest.raises(ValueError, match=r"expects features \[\.\.\., 4\], got \(2, 5\)"):
        selection(torch.randn(2, 5))


@pytest.mark.parametrize(
    "make", [lambda: indices_selection([0, 3, 6, 9]), pca_selection], ids=["ccs", "pca"]
)
def test_state_loads_strictly_into_a_fresh_module_and_in_a_model(make):
    selection = make()
    fresh = FeatureSelection(
        selection.input_size, selection.method, selection.output_size / selection.input_size
    )
    fresh.load_state_dict(selection.state_dict())  # strict: same names, shapes and dtypes
    for name, buffer in selection.state_dict().items():
        assert fresh.state_dict()[name].dtype == buffer.dtype and torch.equal(
            fresh.state_dict()[name], buffer
        )
    x = torch.randn(2, 9, selection.input_size)
    assert torch.equal(fresh(x), selection(x))
    model = torch.nn.ModuleDict(
        {"selection": selection, "head": torch.nn.Linear(selection.output_size, 1)}
    )
    again = torch.nn.ModuleDict(
        {"selection": fresh, "head": torch.nn.Linear(selection.output_size, 1)}
    )
    again.load_state_dict(model.state_dict())
    assert sorted(model.state_dict()) == sorted(again.state_dict())


def test_a_state_of_other_sizes_or_method_is_refused():
    with pytest.raises(RuntimeError, match="size mismatch for indices"):
        FeatureSelection(10, "ccs", 0.5).load_state_dict(indices_selection([1, 2, 3]).state_dict())
    with pytest.raises(RuntimeError, match="Missing key"):
        FeatureSelection(6, "ccs", 0.5).load_state_dict(pca_selection().state_dict())


def test_speechbrain_checkpointer_recovers_the_selection(tmp_path):
    from speechbrain.utils.checkpoints import Checkpointer

    selection = pca_selection(seed=3)
    Checkpointer(tmp_path, recoverables={"selection": selection}).save_checkpoint()
    fresh = FeatureSelection(6, "pca", 0.5)
    assert (
        Checkpointer(tmp_path, recoverables={"selection": fresh}).recover_if_possible() is not None
    )
    assert torch.equal(fresh.components, selection.components) and torch.equal(
        fresh.mean, selection.mean
    )


@pytest.mark.parametrize(
    "make",
    [lambda: indices_selection([0, 2, 4], 6), pca_selection, lambda: FeatureSelection(6)],
    ids=["ccs", "pca", "none"],
)
def test_moving_the_model_keeps_the_selection(make):
    selection = make()
    before = {name: buffer.clone() for name, buffer in selection.state_dict().items()}
    model = torch.nn.ModuleDict({"selection": selection}).to("cpu").to(torch.float64)
    for name, buffer in before.items():
        moved = model["selection"].state_dict()[name]
        assert moved.dtype == buffer.dtype and torch.equal(moved, buffer), name
    x = torch.randn(2, 3, 6, dtype=torch.float64)
    assert model["selection"](x).shape == (2, 3, selection.output_size)
