"""Shared by every test: four fake CPU devices (so the instance-axis sharding is exercised
without hardware), the tiny config of each toy, and one tiny finished run per toy."""

import jax

jax.config.update("jax_num_cpu_devices", 4)

import pytest  # noqa: E402

from toymodels.cli import main  # noqa: E402

# --set items that make each toy small enough to train in seconds; every other key as its quick preset.
TINY = {
    "grokking": ("p=11", "d_model=16", "n_heads=2", "d_head=8", "d_mlp=32", "steps=40", "eval_every=10",
                 "checkpoint_every=20"),
    "superposition": ("steps=40", "eval_every=20", "batch=64", "intro_points=3", "lvr_n=8", "lvr_m=3", "wtw_n=12",
                      "wtw_m=4", "geometry_n=16", "geometry_m=4", "geometry_points=3", "phase_points=3", "phase_tries=2",
                      "hidden_n=6", "hidden_m=3", "abs_n=10", "abs_m=4", "abs_pair_n=6", "abs_pair_m=4", "best_of=true",
                      "corr_points=2", "collapse_points=3", "corr_tries=2"),
    "universality": ("group=S3", "d_embed=16", "d_hidden=16", "steps=40", "eval_every=10", "log_checkpoints=4"),
    "memorisation": ("n=6,10", "width=2,4", "structured=0,1", "d=8", "max_n=16", "max_width=4", "steps=60",
                     "eval_every=20"),
    "saes": ("n_features=8", "d=4", "variant=relu,topk", "dict_size=4,8", "max_dict_size=8", "coef=0.03,1", "k=1,2",
             "steps=40", "eval_every=20", "batch=64", "eval_batch=512"),
}
TINY_SEEDS = {"grokking": 2, "superposition": 2, "universality": 2, "memorisation": 1, "saes": 1}


def tiny_args(name: str, *extra: str) -> list[str]:
    """`toymodels reproduce NAME` arguments for the tiny config (plus extra --set items)."""
    sets = [a for item in (*TINY[name], *extra) for a in ("--set", item)]
    return ["reproduce", name, *sets, "--seeds", str(TINY_SEEDS[name]), "--no-progress"]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """tiny_run(name) -> the directory of a finished tiny run of that toy (trained once a session)."""
    done = {}

    def get(name: str):
        if name not in done:
            out = tmp_path_factory.mktemp(name) / "run"
            assert main([*tiny_args(name), "--out", str(out)]) == 0
            done[name] = out
        return done[name]

    return get
