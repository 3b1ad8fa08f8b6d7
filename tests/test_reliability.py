"""Determinism and crash safety, end to end through the command line (issue: reliability).

Each test starts real subprocesses on the smoke profile (one epoch of base training, as in
conftest's SMOKE) with their own stores.
"""

import os
import platform
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch

from tarf.paths import ROOT

SETS = ["--set", "num_threads=1", "--set", "train.epochs=1", "--set", "train.batch_size=128"]
JOB = ["--scenario", "target_mismatch", "--method", "retrained", "--method", "ga", "--method", "tarf"]
TIMES = ["TIME_min", "cost_vs_retrained"]  # wall-clock: the only columns allowed to differ


def _env(store, **extra):
    return dict(os.environ, TARF_STORE=str(store), TARF_OUTPUT=f"{store}-out", TARF_PROGRESS="0",
                PYTHONHASHSEED="0", **extra)


def _table(store: Path, csv: Path, job=JOB, **env):
    subprocess.run([sys.executable, "-m", "tarf", "table", "smoke", *SETS, *job, "--csv", str(csv)],
                   cwd=ROOT, env=_env(store, **env), check=True, capture_output=True, text=True)
    return pd.read_csv(csv)


def _csv(df: pd.DataFrame) -> bytes:
    """JOB's rows (target mismatch), wall-clock columns aside, as the bytes of a CSV."""
    return df[df.scenario == "target_mismatch"].drop(columns=TIMES).to_csv(index=False).encode()


# The reference run: JOB and data mismatch from an empty store, once for the tests below (`make
# test` keeps a file on one worker, so one worker computes it). The tests that compare a run with
# a clean one take its target-mismatch rows; the one that damages a store damages a copy of it.
DM_JOB = JOB + ["--scenario", "data_mismatch"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    d = tmp_path_factory.mktemp("reference")
    return d / "store", _table(d / "store", d / "reference.csv", DM_JOB)


@pytest.mark.slow
def test_same_params_same_numbers(tmp_path, reference):
    """A second run of the same params into another empty store gives byte-identical results
    (wall-clock columns aside), whether or not the job also holds data mismatch."""
    got = _table(tmp_path / "b", tmp_path / "b.csv")
    assert len(got) == 3  # retrained, ga, tarf
    assert _csv(got) == _csv(reference[1])


# A CPU without AVX-512 (oneDNN, ATen and MKL capped at AVX2), and two threads where the first run has one.
OTHER_MACHINE = {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2",
                 "TARF_NUM_THREADS": "2"}


@pytest.mark.slow
def test_other_kernels_same_printed_numbers(tmp_path, reference):
    """The smoke profile computes in float64, so other CPU kernels give the same table to the printed
    precision (2 decimals). Data mismatch is in the job: its coarse Retrained was the most sensitive
    to kernel choice in float32."""
    a = reference[1].drop(columns=TIMES)
    b = _table(tmp_path / "b", tmp_path / "b.csv", DM_JOB, **OTHER_MACHINE).drop(columns=TIMES)
    assert len(a) == 6
    assert a.round(2).to_csv(index=False) == b.round(2).to_csv(index=False)


# Runs the same job as _table, but SIGKILLs itself at the n-th step of the loop whose progress
# description starts with `desc` (progress() wraps every long loop), i.e. mid-training.
KILLER = textwrap.dedent("""
    import os, signal, sys
    import tarf  # noqa: F401  (tarf.progress the attribute is the function; take the module)
    P = sys.modules["tarf.progress"]
    desc, n = sys.argv[1], int(sys.argv[2])
    real = P.progress
    class Bar:  # counts loop steps and bar updates alike; dies at the n-th
        def __init__(self, bar):
            self.bar, self.i = bar, 0
        def tick(self):
            if self.i == n:
                os.kill(os.getpid(), signal.SIGKILL)
            self.i += 1
        def __iter__(self):
            for x in self.bar:
                self.tick()
                yield x
        def update(self, k=1):
            self.tick()
            return self.bar.update(k)
        def __getattr__(self, name):
            return getattr(self.bar, name)
    def progress(it=None, **kw):
        bar = real(it, **kw)
        return Bar(bar) if str(kw.get("desc", "")).startswith(desc) else bar
    P.progress = progress
    import tarf.train, tarf.unlearn.ga, tarf.unlearn.tarf, tarf.runner
    for mod in (tarf.train, tarf.unlearn.ga, tarf.unlearn.tarf, tarf.runner):
        mod.progress = progress
    from tarf.cli import main
    sys.exit(main(sys.argv[3:]))
""")


def _killed(store: Path, desc: str, n: int):
    script = store.parent / "killer.py"
    script.write_text(KILLER)
    args = ["table", "smoke", *SETS, *JOB]
    r = subprocess.run([sys.executable, str(script), desc, str(n), *args], cwd=ROOT, env=_env(store),
                       capture_output=True, text=True)
    assert r.returncode == -signal.SIGKILL, r.stderr


@pytest.mark.slow
def test_killed_runs_resume_to_the_same_result(tmp_path, reference):
    store = tmp_path / "crash"
    _killed(store, "retrained", 0)  # during base training (the Retrained reference)
    assert not list(store.glob("models/*.pt"))
    _killed(store, "tarf", 1)  # during unlearning (TARF's second segment)
    assert len(list(store.glob("models/*.pt"))) == 2  # Retrained and the original were finished
    assert len(list(store.glob("results/*.json"))) == 2  # rows of retrained and ga; tarf's is not
    for p in store.rglob("*"):  # every data file that is there is complete: it has its checksum
        if p.is_file() and p.suffix != ".sha256" and not p.name.endswith(".tmp") and not p.name.endswith(".lock"):
            assert p.with_name(p.name + ".sha256").exists(), p
    resumed = _table(store, tmp_path / "resumed.csv")
    assert _csv(resumed) == _csv(reference[1])


@pytest.mark.slow
def test_flipped_byte_in_checkpoint_is_detected_and_recomputed(tmp_path, reference):
    store = tmp_path / "s"
    shutil.copytree(reference[0], store)
    ckpt = sorted((store / "models").glob("*.pt"))[0]
    data = bytearray(ckpt.read_bytes())
    data[len(data) // 2] ^= 0xFF
    ckpt.write_bytes(bytes(data))
    for p in (store / "results").glob("*.json*"):  # force the rows to be recomputed from the checkpoints
        p.unlink()
    r = subprocess.run([sys.executable, "-m", "tarf", "table", "smoke", *SETS, *DM_JOB, "--csv",
                        str(tmp_path / "2.csv")], cwd=ROOT, env=_env(store), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "checksum mismatch" in r.stdout + r.stderr and ckpt.name in r.stdout + r.stderr
    second = pd.read_csv(tmp_path / "2.csv").drop(columns=TIMES)
    assert second.to_csv(index=False) == reference[1].drop(columns=TIMES).to_csv(index=False)


# Another x86-64 machine as seen by each library: oneDNN and MKL capped at AVX2 (MKL_ENABLE_INSTRUCTIONS
# caps what MKL may use; MKL_CBWR would fix its branch, which is what kernels: portable itself does).
AVX2_MACHINE = {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"}
FLOAT32 = ["--set", "dtype=float32"]
KJOB = ["--scenario", "data_mismatch", "--method", "retrained", "--method", "ga"]


def _kernels_run(tmp_path, name, kernels, **env):
    """The job's rows and the weights of every model it trained (bytes, by store key)."""
    job = FLOAT32 + ["--set", f"kernels={kernels}"] + KJOB
    rows = _table(tmp_path / name, tmp_path / f"{name}.csv", job, **env).drop(columns=TIMES)
    weights = {}
    for f in sorted((tmp_path / name / "models").glob("*.pt")):
        sd = torch.load(f, map_location="cpu", weights_only=True)["data"]["state_dict"]
        weights[f.stem] = b"".join(v.numpy().tobytes() for v in sd.values())
    return rows.to_csv(index=False), weights


@pytest.mark.slow
@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="kernels: portable is x86-64 only")
def test_portable_kernels_same_float32_weights_on_an_avx2_machine(tmp_path):
    """kernels: portable trains bit-identical float32 weights whether or not the CPU's AVX-512 is
    hidden; native kernels, on a CPU that has AVX-512, do not (so the capped run is another machine)."""
    rows_a, a = _kernels_run(tmp_path, "a", "portable")
    rows_b, b = _kernels_run(tmp_path, "b", "portable", **AVX2_MACHINE)
    assert len(a) == 2  # the coarse original and the data-mismatch Retrained
    assert a == b and rows_a == rows_b
    if _native_capability() == "AVX512":
        _, c = _kernels_run(tmp_path, "c", "native")
        _, d = _kernels_run(tmp_path, "d", "native", **AVX2_MACHINE)
        assert c.keys() == d.keys() and c != d


def _native_capability() -> str:
    code = "import torch; print(torch.backends.cpu.get_cpu_capability())"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"}).stdout.strip()


@pytest.mark.parametrize("method", ["ft", "tarf"])
def test_no_nan_fill_of_new_tensors_changes_no_number(method, smoke_exp, smoke_ds, smoke_split, monkeypatch):
    """seed_everything turns off deterministic mode's NaN fill of new tensors (tarf/train.py); a
    kernel that read memory it had not written would give other weights or rows without the fill."""
    import torch.utils.deterministic as det

    from tarf import metrics, runner, train, unlearn

    ctx = runner.Context(smoke_exp, smoke_ds, smoke_split)  # float32, as the default profile
    model, _ = runner.original(ctx, "target_mismatch", 0)
    sets = runner.eval_sets(ctx, "target_mismatch")
    out = []
    for fill in (True, False):
        train.seed_everything(0, 1)
        assert det.fill_uninitialized_memory is False
        monkeypatch.setattr(det, "fill_uninitialized_memory", fill)
        m, _ = unlearn.run(method, model, runner.unlearn_data(ctx, "target_mismatch"),
                           runner.hyper_parameters(ctx, method), 0)
        out.append((torch.cat([t.flatten() for t in m.state_dict().values() if t.is_floating_point()]),
                    metrics.evaluate(m, sets, "cpu")))
    assert torch.equal(out[0][0], out[1][0]) and out[0][1] == out[1][1]
