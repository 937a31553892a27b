"""Several processes, one run: two local processes (JAX's own multi-process runtime, two fake CPU
devices each, the coordinator on 127.0.0.1) start a tiny run, stop, and resume it to the same
end as the one-process run, with process 0 alone writing the run directory's files."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import jax
import numpy as np
from conftest import tiny_args

from toymodels.engine import mesh_devices
from toymodels.store import CONFIG, LOCK, METRICS, REPORT, load_run

ROOT = Path(__file__).parents[1]

# One process of the launch: argv = run directory, where to write what it did, a compilation cache,
# the command line. It runs the command twice: stopped (as by Ctrl-C) after saving step 20, then
# again, resuming (with the programs it compiled the first time, from the cache).
CHILD = r"""
import json, os, sys
import jax
jax.config.update("jax_num_cpu_devices", 2)
jax.config.update("jax_cpu_collectives_implementation", "gloo")
jax.config.update("jax_compilation_cache_dir", sys.argv[3])
from toymodels.cli import main
from toymodels.store import REPORT, RunStore

run, written = os.path.realpath(sys.argv[1]), set()

def audit(event, args):  # every file this process writes, renames, creates or removes in the run directory
    if event == "open":
        path, mode, flags = args
        if (mode is None and not flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)) or (mode and not set(mode) & set("wax+")):
            return
    elif event in ("os.rename", "os.replace"):
        path = args[1]
    elif event in ("os.mkdir", "os.remove", "os.rmdir", "os.truncate", "shutil.rmtree"):
        path = args[0]
    else:
        return
    if isinstance(path, (str, bytes, os.PathLike)):
        p = os.path.realpath(os.fsdecode(path))
        if p.startswith(run + os.sep):
            written.add(os.path.relpath(p, run))

save, stop = RunStore.save, [20]
def stopping(self, step, state, metrics):
    save(self, step, state, metrics)
    if step in stop:
        raise KeyboardInterrupt
RunStore.save = stopping

sys.addaudithook(audit)
codes = [main(sys.argv[4:])]
stopped = {"steps": RunStore(run).checkpoint_steps(), "report": os.path.exists(os.path.join(run, REPORT))}
stop.clear()
codes.append(main(sys.argv[4:]))
with open(sys.argv[2], "w") as f:
    json.dump({"codes": codes, "stopped": stopped, "written": sorted(written)}, f)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(out: Path, logs: Path) -> list[dict]:
    """The tiny grokking run in two processes, as on two hosts: what each did and printed."""
    port, procs = _free_port(), []
    for i in range(2):
        args = [*tiny_args("grokking"), "--figure", "loss_curves", "--out", str(out),
                "--coordinator-address", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i)]
        with open(logs / f"out{i}.txt", "w") as so, open(logs / f"err{i}.txt", "w") as se:
            procs.append(subprocess.Popen([sys.executable, "-c", CHILD, str(out), str(logs / f"did{i}.json"),
                                           str(logs / "xla-cache"), *args],
                                          env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=so, stderr=se))
    try:
        codes = [p.wait(timeout=300) for p in procs]
    finally:
        for p in procs:
            p.kill()
    did = []
    for i, code in enumerate(codes):
        assert code == 0, f"process {i} exited {code}:\n{(logs / f'err{i}.txt').read_text()[-3000:]}"
        printed = (logs / f"out{i}.txt").read_text().splitlines(keepends=True)
        did.append({**json.loads((logs / f"did{i}.json").read_text()),
                    "printed": "".join(line for line in printed if not line.startswith("[Gloo]"))})  # gloo's own
    return did


def test_two_processes_stop_resume_and_end_as_one_process_with_process_0_writing(tiny_run, tmp_path):
    one = load_run(tiny_run("grokking"))  # the same run in one process (4 devices), trained once a session
    out = tmp_path / "run"
    did = _launch(out, tmp_path)
    for d in did:
        assert d["codes"] == [130, 0] and d["stopped"] == {"steps": [0, 20], "report": False}
    assert "claims hold" in did[0]["printed"] and did[1]["printed"] == ""  # process 0 reports
    two = load_run(out)
    assert two.complete and two.steps == one.steps == [0, 20, 40]
    # exactly equal: each device trains one instance in both, so the programs are the same
    for k in one.metrics:
        np.testing.assert_array_equal(two.metrics[k], one.metrics[k], err_msg=k)
    for a, b in zip(jax.tree_util.tree_leaves(two.params), jax.tree_util.tree_leaves(one.params)):
        np.testing.assert_array_equal(a, b)
    # process 0 wrote every file of the run; process 1 only its own part of each checkpoint, through orbax
    for name in (CONFIG, METRICS, REPORT, LOCK, "instances.csv", "loss_curves.png"):
        assert name in did[0]["written"], name
    by_1 = did[1]["written"]
    assert by_1 and all(p.startswith(("checkpoints/", "resume/")) and "process_0" not in p for p in by_1), by_1
    assert (out / "checkpoints" / "40" / "default" / "ocdbt.process_1").is_dir()


def test_every_process_holds_a_shard_or_a_copy():
    def ids(n, processes, local):
        devices = [SimpleNamespace(process_index=p, id=10 * p + i) for p in range(processes) for i in range(local)]
        return [[d.id for d in row] for row in mesh_devices(n, devices)]

    assert ids(3, 1, 4) == [[0, 1, 2]]              # one process: as many shards as divide the instances
    assert ids(2, 2, 2) == [[0, 10]]                # devices taken in turn from each process
    assert ids(4, 2, 2) == [[0, 10, 1, 11]]
    assert ids(3, 2, 2) == [[0, 10, 1]]
    assert ids(1, 2, 2) == [[0], [10]]              # too few instances: a copy on each process
    assert ids(3, 4, 1) == [[0], [10], [20], [30]]  # 3 shards cannot reach 4 processes


def test_distributed_without_a_cluster_or_flags_is_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "OMPI_", "JAX_"))}
    done = subprocess.run([sys.executable, "-m", "toymodels.cli", *tiny_args("grokking"), "--distributed",
                           "--out", str(tmp_path / "run")], env={**env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("toymodels: error: --distributed:") and done.stderr.count("\n") == 1
    assert not (tmp_path / "run").exists()
