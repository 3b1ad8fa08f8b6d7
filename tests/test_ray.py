"""--executor ray (tarf/executor.py) on a local Ray cluster this module starts once (`make test`
keeps a file on one worker): 2 CPUs, no dashboard, token authentication on. The serial smoke table
is computed once; every Ray table is compared with it. The store is the one shared state, so the
race and kill tests look at it."""

import hashlib
import json
import multiprocessing
import os
import secrets
import socket
from pathlib import Path

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from tarf import cli, executor, store  # noqa: E402  (after the skip)

ONE = ["--set", "num_threads=1", "--set", "train={epochs: 1, batch_size: 128}"]  # one thread, one quick epoch
TIMES = ["TIME_min", "cost_vs_retrained"]  # wall-clock: the only columns allowed to differ
# Both label spaces (target mismatch is fine with K > 0, model mismatch coarse), the references and
# three methods: 10 runs, 4 models, about 20 s on 2 shared cores (the full smoke table: bench/).
SEL = ["--scenario", "target_mismatch", "--scenario", "model_mismatch",
       *(x for m in ("retrained", "original", "ga", "bs", "tarf") for x in ("--method", m))]
JOB = ["--scenario", "target_mismatch", "--method", "retrained", "--method", "ga", "--method", "tarf"]


@pytest.fixture(scope="module")
def cluster():
    """Started through executor.connected, as `--executor ray` without --address starts one."""
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("RAY_ADDRESS", raising=False)
        mp.delenv("RAY_AUTH_MODE", raising=False)  # Ray's default, which connected() must keep on
        mp.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))  # the test's own token: nothing in ~/.ray
        with executor.connected(num_cpus=2) as r:
            yield r


@pytest.fixture(scope="module")
def serial(tmp_path_factory) -> pd.DataFrame:
    d = tmp_path_factory.mktemp("serial")
    with pytest.MonkeyPatch.context() as mp:  # its own store, never the repository's
        mp.setenv("TARF_STORE", str(d / "store"))
        mp.setenv("TARF_OUTPUT", str(d / "out"))
        mp.setenv("TARF_PROGRESS", "0")
        assert cli.main(["table", "smoke", *ONE, *SEL, "--csv", str(d / "serial.csv")]) == 0
    return pd.read_csv(d / "serial.csv")


def metrics_csv(df: pd.DataFrame, columns=None) -> bytes:
    """Every column but the wall-clock ones, at full precision, as bytes."""
    df = df if columns is None else df[list(columns)]
    return df.drop(columns=TIMES).reset_index(drop=True).to_csv(index=False).encode()


def table(tmp_path, *args) -> pd.DataFrame:
    csv = tmp_path / "ray.csv"
    assert cli.main(["table", "smoke", *ONE, "--executor", "ray", *args, "--csv", str(csv)]) == 0
    return pd.read_csv(csv)


def assert_complete(root: Path) -> None:
    """No temporary file, and every data file has a sidecar that matches its bytes."""
    files = [p for p in root.rglob("*") if p.is_file() and not p.name.endswith(".lock")]  # store locks, if any
    assert not [p for p in files if p.name.endswith(".tmp")]
    for p in files:
        if p.suffix != ".sha256":
            side = Path(f"{p}.sha256")
            assert side.exists() and side.read_text().strip() == hashlib.sha256(p.read_bytes()).hexdigest(), p


def recorded(real, log: Path):
    """``real``, appending its arguments and result to ``log`` (a closure: Ray ships it by value)."""
    def task(*args):
        out = real(*args)
        with open(log, "a") as f:
            f.write(json.dumps([list(args[3:6]), out]) + "\n")
        return out
    return task


def dies_once(real, marker: Path, put: str, match):
    """``real``, but the first call that ``match``es exits its worker process (os._exit: no cleanup,
    as a kill) when it would write to the store with ``put``, i.e. after its work, before its result."""
    def task(*args):
        if not match(args) or marker.exists():
            return real(*args)
        marker.write_text(str(os.getpid()))
        from tarf import store as worker_store

        kept = getattr(worker_store, put)
        setattr(worker_store, put, lambda *a, **k: os._exit(1))
        try:
            return real(*args)
        finally:  # only reached if it did not die
            setattr(worker_store, put, kept)
    return task


def test_cluster_keeps_token_auth_and_no_dashboard(cluster):
    from ray._raylet import AuthenticationMode, get_authentication_mode

    assert get_authentication_mode() == AuthenticationMode.TOKEN
    assert not ray._private.worker.get_dashboard_url()


@pytest.mark.slow
def test_smoke_table_on_ray_equals_serial(cluster, serial, tmp_path, tmp_store, monkeypatch):
    log = tmp_path / "models.log"
    monkeypatch.setattr(executor, "_model_task", recorded(executor._model_task, log))
    got = table(tmp_path, *SEL)
    assert len(got) == len(serial) == 10
    assert metrics_csv(got) == metrics_csv(serial)
    trained = [json.loads(line) for line in log.read_text().splitlines()]
    keys = [k for _, k in trained]
    assert len(keys) == len(set(keys)) == len(list((tmp_store / "models").glob("*.pt")))  # each model once
    assert_complete(tmp_store)


@pytest.mark.slow
def test_killed_workers_are_retried_and_leave_no_partial_file(cluster, serial, tmp_path, tmp_store, monkeypatch):
    died = {"model": tmp_path / "model-died", "row": tmp_path / "row-died"}
    monkeypatch.setattr(executor, "_model_task", dies_once(  # a Retrained, trained but not yet stored
        executor._model_task, died["model"], "put_torch", lambda a: a[3] == "retrained"))
    monkeypatch.setattr(executor, "_row_task", dies_once(  # TARF's row, unlearnt but not yet stored
        executor._row_task, died["row"], "put_json", lambda a: a[4] == "tarf"))
    got = table(tmp_path, *JOB)
    assert died["model"].exists() and died["row"].exists()  # both first attempts died
    want = serial[(serial.scenario == "target_mismatch") & serial.method.isin(["retrained", "ga", "tarf"])]
    assert want.drop(columns=got.columns).isna().all().all()  # UA_R: model mismatch rows only
    assert metrics_csv(got) == metrics_csv(want, got.columns)
    assert_complete(tmp_store)


def _writer(root: str, tag: str, rounds: int, barrier) -> None:
    os.environ["TARF_STORE"] = root
    for i in range(rounds):  # same key, other bytes each time (as two rows differ in TIME_min)
        barrier.wait()
        store.put_json("results", "same", {"writer": tag, "round": i, "pad": tag * (97 * i % 4000)})
        barrier.wait()


# Without store.put's lock its two renames interleave: measured 136/400 rounds with a mismatched pair.
@pytest.mark.slow
def test_two_writers_of_one_key_leave_one_complete_file(tmp_store):
    rounds, ctx = 100, multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(3, timeout=120)  # a writer that died breaks the barrier: no hang
    procs = [ctx.Process(target=_writer, args=(str(tmp_store), t, rounds, barrier)) for t in "ab"]
    for p in procs:
        p.start()
    bad = []
    try:
        for i in range(rounds):
            barrier.wait()  # both write now
            barrier.wait()  # both done
            try:
                got = json.loads(store.get("results", "same", "json"))  # get: a mismatch raises
            except store.CorruptArtifact as e:
                bad.append(str(e))
                continue
            assert got["round"] == i and got["writer"] in "ab"
    finally:
        for p in procs:
            p.join(timeout=60)
    assert not bad, f"{len(bad)}/{rounds} rounds left a mismatched pair, e.g. {bad[0]}"
    assert_complete(tmp_store)


def test_unreachable_address_is_one_clear_line(capsys, files):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc = cli.main(["table", "smoke", "--executor", "ray", "--address", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: --address 127.0.0.1:{port}: no Ray head answers there") and "HOST:PORT" in err
    assert files() == []  # refused before anything is written


def test_bad_executor_and_missing_ray(capsys, files, monkeypatch):
    assert cli.main(["table", "smoke", "--executor", "dask"]) == 2
    assert "--executor: unknown 'dask'; valid: serial, ray" in capsys.readouterr().err
    assert cli.main(["table", "smoke", "--address", "10.0.0.1:6379"]) == 2
    assert "--address: only with --executor ray" in capsys.readouterr().err
    monkeypatch.setitem(__import__("sys").modules, "ray", None)  # as if not installed
    assert cli.main(["table", "smoke", "--executor", "ray"]) == 2
    assert "pip install -e '.[ray]'" in capsys.readouterr().err
    assert files() == []
