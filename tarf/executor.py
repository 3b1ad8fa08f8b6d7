"""Running a list of runs: one after another (``serial``, the default) or as Ray tasks (``ray``).

A run is runner.run_one's (context, scenario, method, seed). On Ray each run is a task, and the
models it loads are upstream tasks it depends on: the original of its label space (every method but
Retrained) and its scenario's Retrained, one task per checkpoint, so no model is trained twice and
no run waits on a model it does not use. A run of any method but Retrained also waits on its
scenario's Retrained row, which its Gap reads. Tasks share nothing but the store: the driver hands
every task its TARF_STORE (on a cluster, a folder every node mounts at the same path); each task
writes its own keys, atomically, and returns its row. A task whose worker dies is run again by Ray
(MAX_RETRIES); what the dead attempt left unwritten is simply computed again.

Ray is imported here only, and only for ``executor="ray"`` (``pip install -e '.[ray]'``).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from . import params, runner, store, train
from .paths import store_dir
from .progress import progress

EXECUTORS = ("serial", "ray")
MAX_RETRIES = 3  # attempts after a worker dies (node lost, killed, out of memory)
ADDRESSES = ("HOST:PORT of a running head (`ray start --head` prints it), 'auto' for a cluster "
             "already running on this machine, or no --address to start a local one")


class ExecutorError(RuntimeError):
    """A bad --executor / --address, Ray missing, or a cluster that cannot run the tasks."""


# --- the entry points -----------------------------------------------------------------------------

def check(executor: str, address: str | None = None) -> None:
    """Fail before any work: an unknown executor, --address without Ray, Ray missing, a dead address."""
    if executor not in EXECUTORS:
        raise ExecutorError(f"--executor: unknown {executor!r}; valid: {', '.join(EXECUTORS)}")
    if executor == "serial":
        if address:
            raise ExecutorError("--address: only with --executor ray")
        return
    _import_ray()
    if address:
        _reachable(address)


def run(runs: Sequence[tuple], executor: str = "serial", address: str | None = None) -> list[dict]:
    """The row of every (ctx, scenario, method, seed) in ``runs``, in order."""
    rows = dict(as_completed(runs, executor, address))
    return [rows[i] for i in range(len(runs))]


def as_completed(runs: Sequence[tuple], executor: str = "serial",
                 address: str | None = None) -> Iterator[tuple[int, dict]]:
    """(index into ``runs``, row) as each run finishes: in order when serial, as they come on Ray."""
    check(executor, address)
    if not runs:  # nothing to do: no cluster to start
        return
    if executor == "serial":
        for i, run_ in enumerate(progress(runs, desc="runs")):
            yield i, runner.run_one(*run_)
    else:
        yield from _ray_rows(runs, address)


def run_all(ctx: runner.Context, methods=None, scenarios_=None, seeds=None, executor: str = "serial",
            address: str | None = None):
    """runner.run_all's table; serial is runner.run_all itself."""
    if executor == "serial":
        check(executor, address)
        return runner.run_all(ctx, methods, scenarios_, seeds)
    jobs = runner.table_jobs(ctx, methods, scenarios_, seeds)
    return runner.table(run([(ctx, *job) for job in jobs], executor, address))


# --- connecting -----------------------------------------------------------------------------------

def _import_ray():
    try:
        import ray
    except ImportError:
        raise ExecutorError("--executor ray: Ray is not installed; pip install -e '.[ray]'") from None
    return ray


def _reachable(address: str) -> None:
    """A TCP probe first: ray.init retries an address that does not answer for minutes."""
    if address == "auto":
        return
    if address.startswith("ray://"):
        raise ExecutorError(f"--address {address}: Ray Client addresses are not used (they need a client "
                            f"server); run the command on a cluster node with the head's HOST:PORT")
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ExecutorError(f"--address {address!r}: not an address; valid: {ADDRESSES}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        raise ExecutorError(f"--address {address}: no Ray head answers there ({e.strerror or e}); "
                            f"valid: {ADDRESSES}") from None


@contextlib.contextmanager
def connected(address: str | None = None, num_cpus: int | None = None):
    """Ray, connected: to ``address``, else to RAY_ADDRESS, else a local cluster started here (and
    shut down on exit). Reuses a connection the process already has.

    Nothing here turns Ray's token authentication off: a local cluster has it by default (Ray makes
    a token in ~/.ray/auth_token unless RAY_AUTH_TOKEN is set), and joining one that has it takes
    RAY_AUTH_MODE=token and its token here (docs/usage.md#running-on-a-ray-cluster). No dashboard."""
    ray = _import_ray()
    if address:
        _reachable(address)
    if ray.is_initialized():
        yield ray
        return
    try:
        ray.init(address=address, num_cpus=num_cpus, include_dashboard=False)
    except Exception as e:  # ConnectionError, AuthenticationError, ...: one line naming the option
        where = f"--address {address}" if address else "--executor ray"
        raise ExecutorError(f"{where}: cannot connect to Ray ({_one_line(e)[:400]}); valid: {ADDRESSES}; "
                            f"a cluster with token authentication needs RAY_AUTH_MODE=token and its "
                            f"token here (~/.ray/auth_token or RAY_AUTH_TOKEN)") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


# --- the task graph -------------------------------------------------------------------------------

def resources(exp: params.Experiment) -> dict:
    """What one task asks Ray for: a GPU on CUDA profiles, the profile's CPU threads otherwise."""
    if exp.device.startswith("cuda"):
        if exp.device not in ("cuda", "cuda:0"):  # Ray gives each task one GPU, seen as cuda:0
            raise ExecutorError(f"device: {exp.device!r} with --executor ray; valid: cuda (Ray assigns the GPU)")
        return {"num_gpus": 1, "num_cpus": 1}
    return {"num_cpus": exp.num_threads}


def _model_id(ctx: runner.Context, role: str, scenario: str, seed: int) -> str:
    """A checkpoint's store key: one task per checkpoint."""
    return train.checkpoint_key(ctx.exp, ctx.split, role, ctx.split[scenario].label_space, seed, scenario)


def _row_id(ctx, scenario, method, seed, orig, ret) -> str:
    """What identifies a results row (runner._row_key with model ids for checkpoint keys)."""
    return runner.run_key(ctx, scenario=scenario, method=method, seed=seed,
                          hp=runner.hyper_parameters(ctx, method), original=orig, retrained=ret)


def _fingerprint(ctx: runner.Context) -> str:
    """The driver's params and split: a worker with another checkout or data set refuses to run."""
    return store.key({"exp": params.as_dict(ctx.exp), "split": ctx.split.hash})


def _task_args(ctx: runner.Context) -> tuple:
    if ctx.source is None:
        raise ExecutorError("--executor ray: the context was not made by runner.context(profile, overrides), "
                            "so a worker cannot make it again")
    profile, overrides = ctx.source
    if Path(profile).suffix in (".yaml", ".yml"):  # a worker runs in another folder
        profile = str(Path(profile).resolve())
    env = {"TARF_STORE": str(store_dir().resolve()), "TARF_NUM_THREADS": str(ctx.exp.num_threads),
           "TARF_PROGRESS": "0"}
    if os.environ.get("TARF_DATA"):
        env["TARF_DATA"] = str(Path(os.environ["TARF_DATA"]).resolve())
    return (profile, overrides), env, _fingerprint(ctx)


def _ray_rows(runs, address) -> Iterator[tuple[int, dict]]:
    with connected(address) as ray:
        _check_fits(ray, {json.dumps(resources(ctx.exp), sort_keys=True) for ctx, *_ in runs})
        model_task = ray.remote(max_retries=MAX_RETRIES)(_model_task)
        row_task = ray.remote(max_retries=MAX_RETRIES)(_row_task)
        models, rows, args = {}, {}, {}

        def model(ctx, role, scenario, seed):
            mid = _model_id(ctx, role, scenario, seed)
            if mid not in models:
                models[mid] = model_task.options(**resources(ctx.exp)).remote(*args[id(ctx)], role, scenario, seed)
            return mid

        def row(ctx, scenario, method, seed):
            ret = model(ctx, "retrained", scenario, seed)
            orig, deps = None, [models[ret]]
            if method != "retrained":
                orig = model(ctx, "original", scenario, seed)
                deps += [models[orig], row(ctx, scenario, "retrained", seed)]  # Gap reads the Retrained row
            rid = _row_id(ctx, scenario, method, seed, orig, ret)
            if rid not in rows:
                rows[rid] = row_task.options(**resources(ctx.exp)).remote(
                    *args[id(ctx)], scenario, method, seed, *deps)
            return rows[rid]

        wanted: dict = {}  # task → indices of the runs it answers (the same run may be asked twice)
        for i, (ctx, scenario, method, seed) in enumerate(runs):
            if id(ctx) not in args:
                args[id(ctx)] = _task_args(ctx)
            wanted.setdefault(row(ctx, scenario, method, seed), []).append(i)
        pending, finished = list(wanted), False
        bar = progress(total=len(runs), desc="runs (ray)")
        try:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                got = ray.get(done[0])
                for i in wanted[done[0]]:
                    bar.update(1)
                    yield i, got
            finished = True
        finally:
            bar.close()
            if not finished:  # stopped early or failed: nothing of ours keeps running on the cluster
                refs = [*rows.values(), *models.values()]
                for ref in ray.wait(refs, num_returns=len(refs), timeout=0)[1]:  # only those not done
                    ray.cancel(ref)


def _check_fits(ray, asks: set[str]) -> None:
    """Ray waits forever for a task no node can hold: say so instead."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    for ask in map(json.loads, asks):
        cpus, gpus = ask.get("num_cpus", 0), ask.get("num_gpus", 0)
        if not any(n.get("CPU", 0) >= cpus and n.get("GPU", 0) >= gpus for n in nodes):
            biggest = max((n.get("CPU", 0) for n in nodes), default=0)
            need = f"{gpus:g} GPU and {cpus:g} CPU" if gpus else f"{cpus:g} CPUs (num_threads)"
            raise ExecutorError(f"--executor ray: no node of the cluster has {need} for one task "
                                f"(largest: {biggest:g} CPUs); lower TARF_NUM_THREADS or add such a node")


# --- what runs on a worker ------------------------------------------------------------------------

_CONTEXTS: dict[str, runner.Context] = {}  # per worker process: the data set is loaded once


def _worker_context(source, env: dict, fingerprint: str) -> runner.Context:
    os.environ.update(env)  # the driver's store, thread count and data folder
    k = json.dumps([source, env], sort_keys=True, default=str)
    if k not in _CONTEXTS:
        if len(_CONTEXTS) >= 4:  # a sweep makes one context per setting: keep memory bounded
            _CONTEXTS.clear()
        _CONTEXTS[k] = runner.context(*source)
    ctx = _CONTEXTS[k]
    torch.set_num_threads(ctx.exp.num_threads)  # a cached context: set again what context() set
    torch.set_default_dtype(getattr(torch, ctx.exp.dtype))
    if _fingerprint(ctx) != fingerprint:
        raise RuntimeError("this worker's params or split differ from the driver's: every node needs the "
                           "same checkout of the repository and the same data")
    return ctx


def _model_task(source, env, fingerprint, role: str, scenario: str, seed: int) -> str:
    """Train (or find) one original or Retrained; its store key."""
    ctx = _worker_context(source, env, fingerprint)
    make = runner.original if role == "original" else runner.retrained
    return make(ctx, scenario, seed)[1]["key"]


def _row_task(source, env, fingerprint, scenario: str, method: str, seed: int, *upstream) -> dict:
    """One results row; ``upstream`` (finished before this starts) are the tasks it reads from the store."""
    return runner.run_one(_worker_context(source, env, fingerprint), scenario, method, seed)
