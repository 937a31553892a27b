"""Every grokking figure is written as a non-empty PNG and PDF from a tiny two-seed run."""

from toymodels.grokking import recipe as grokking
from toymodels.pipeline import resolve, train_run
from toymodels.grokking.figures import make_figures
from toymodels.store import load_run

FIGURES = ["loss_curves", "fourier_norms", "attention", "neuron_activations", "logit_fourier_norms",
           "neuron_fve_histogram", "cluster_neuron_logit_map", "progress_measures",
           "excluded_loss_per_frequency", "cos_coefficients"]


def test_make_figures_writes_png_and_pdf(tmp_path):
    sets = ("p=11", "d_model=16", "n_heads=2", "d_head=8", "d_mlp=32", "frac_train=0.5",
            "steps=100", "eval_every=10", "checkpoint_every=50")
    exp, cfg, spec = resolve("grokking", "quick", 2, sets)
    train_run(exp, cfg, spec, tmp_path / "run", progress=False)
    run = load_run(tmp_path / "run")
    paths = make_figures(run, grokking.analyse(run), tmp_path / "figs")
    expected = {tmp_path / "figs" / f"{name}.{ext}" for name in FIGURES for ext in ("png", "pdf")}
    assert set(paths) == expected
    for path in expected:
        head = path.read_bytes()[:8]
        assert head.startswith(b"\x89PNG" if path.suffix == ".png" else b"%PDF"), path
        assert path.stat().st_size > 1000, path
