"""The CIFAR-10 and CIFAR-100 profiles end to end on the CPU (issue 36): tiny sets in the official
on-disk format (the python-version pickles), every scenario x every method through `tarf table`
(CIFAR-10 on the profile's first two seeds, so that notebook 10 has a spread over seeds, CIFAR-100
on its first), and notebook 10 on CIFAR-10 through papermill.

The overrides shrink only the budgets (base and unlearning epochs, the MultiStep milestone with
them, TARF's phases, SCRUB's max steps, IU's sample count) and the model width, and put the run on
the CPU with one thread and the tiny files; everything else (augmentation in training and
unlearning, the MultiStep schedule, batch sizes, amp, the CIFAR-100 k) is the profile's own. As in
tests/test_data.py, the tiny files cannot have the official md5s, so only torchvision's md5
constants are pointed at them (in the kernel too, by an IPython startup file); the check runs.
"""

import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import papermill as pm
import pytest
import yaml
from torchvision.datasets import CIFAR10, CIFAR100

from tarf import cli, data, runner, scenarios, train
from tarf.paths import ROOT, results_dir

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# The official superclasses (the data set's meta file and its coarse_labels carry them), coarse-id order.
CIFAR100_SUPER = {
    "aquatic_mammals": ["beaver", "dolphin", "otter", "seal", "whale"],
    "fish": ["aquarium_fish", "flatfish", "ray", "shark", "trout"],
    "flowers": ["orchid", "poppy", "rose", "sunflower", "tulip"],
    "food_containers": ["bottle", "bowl", "can", "cup", "plate"],
    "fruit_and_vegetables": ["apple", "mushroom", "orange", "pear", "sweet_pepper"],
    "household_electrical_devices": ["clock", "keyboard", "lamp", "telephone", "television"],
    "household_furniture": ["bed", "chair", "couch", "table", "wardrobe"],
    "insects": ["bee", "beetle", "butterfly", "caterpillar", "cockroach"],
    "large_carnivores": ["bear", "leopard", "lion", "tiger", "wolf"],
    "large_man-made_outdoor_things": ["bridge", "castle", "house", "road", "skyscraper"],
    "large_natural_outdoor_scenes": ["cloud", "forest", "mountain", "plain", "sea"],
    "large_omnivores_and_herbivores": ["camel", "cattle", "chimpanzee", "elephant", "kangaroo"],
    "medium_mammals": ["fox", "porcupine", "possum", "raccoon", "skunk"],
    "non-insect_invertebrates": ["crab", "lobster", "snail", "spider", "worm"],
    "people": ["baby", "boy", "girl", "man", "woman"],
    "reptiles": ["crocodile", "dinosaur", "lizard", "snake", "turtle"],
    "small_mammals": ["hamster", "mouse", "rabbit", "shrew", "squirrel"],
    "trees": ["maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"],
    "vehicles_1": ["bicycle", "bus", "motorcycle", "pickup_truck", "train"],
    "vehicles_2": ["lawn_mower", "rocket", "streetcar", "tank", "tractor"],
}
CIFAR100_NAMES = sorted(f for fs in CIFAR100_SUPER.values() for f in fs)  # fine ids: alphabetical
PER_CLASS = {"cifar10": (6, 3), "cifar100": (2, 1)}  # (train, test) images per class
TIMES = ["TIME_min", "cost_vs_retrained"]  # wall-clock


def _dump(p: Path, obj):
    p.write_bytes(pickle.dumps(obj, protocol=2))


def _images(rng, labels) -> np.ndarray:
    """CIFAR rows (1024 R, 1024 G, 1024 B), one tint per class plus noise, so classes differ."""
    labels = np.asarray(labels)
    tint = np.random.default_rng(7).integers(40, 216, (labels.max() + 1, 3, 1))
    x = tint[labels] + rng.integers(-40, 41, (len(labels), 3, 1024))
    return np.clip(x, 0, 255).astype(np.uint8).reshape(len(labels), 3072)


def _labels(rng, n_classes, per_class):
    return rng.permutation(np.repeat(np.arange(n_classes), per_class)).tolist()


def write_cifar10(root: Path) -> Path:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(10)
    n_tr, n_te = PER_CLASS["cifar10"]
    y = _labels(rng, 10, n_tr)
    for i, part in enumerate(np.array_split(np.arange(len(y)), 5), 1):
        ys = [y[j] for j in part]
        _dump(folder / f"data_batch_{i}", {"batch_label": f"training batch {i} of 5", "labels": ys,
                                           "data": _images(rng, ys), "filenames": [f"{j}.png" for j in part]})
    ys = _labels(rng, 10, n_te)
    _dump(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "labels": ys, "data": _images(rng, ys),
                                  "filenames": [f"{j}.png" for j in range(len(ys))]})
    _dump(folder / "batches.meta", {"label_names": CIFAR10_NAMES, "num_cases_per_batch": len(y) // 5,
                                    "num_vis": 3072})
    return folder


def write_cifar100(root: Path) -> Path:
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(100)
    coarse = list(CIFAR100_SUPER)
    coarse_of = [coarse.index(next(c for c, fs in CIFAR100_SUPER.items() if f in fs)) for f in CIFAR100_NAMES]
    for split, n in zip(("train", "test"), PER_CLASS["cifar100"]):
        fine = _labels(rng, 100, n)
        _dump(folder / split, {"filenames": [f"{j}.png" for j in range(len(fine))], "batch_label": split,
                               "fine_labels": fine, "coarse_labels": [coarse_of[f] for f in fine],
                               "data": _images(rng, fine)})
    _dump(folder / "meta", {"fine_label_names": CIFAR100_NAMES, "coarse_label_names": coarse})
    return folder


def _md5(p: Path) -> str:
    return hashlib.md5(p.read_bytes()).hexdigest()


def md5_lists(cls, folder: Path) -> dict:
    """torchvision's file lists with the tiny files' md5s (the only constants replaced)."""
    return {"train_list": [[f, _md5(folder / f)] for f, _ in cls.train_list],
            "test_list": [[f, _md5(folder / f)] for f, _ in cls.test_list],
            "meta": {**cls.meta, "md5": _md5(folder / cls.meta["filename"])}}


def kernel_startup(ipython_dir: Path, cls, lists: dict) -> None:
    """An IPython startup file that makes the same replacement in the notebook's kernel."""
    startup = ipython_dir / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-tiny-cifar-md5.py").write_text(
        f"import torchvision.datasets as d\nfor k, v in {lists!r}.items():\n    setattr(d.{cls.__name__}, k, v)\n")


def sets(profile: str, root: Path) -> list[str]:
    """--set: the budgets and the width shrunk, the CPU, the tiny files; nothing else."""
    out = ["device=cpu", "num_threads=1", f"data_root={root}", "download=false", "model.width=2",
           "train.epochs=2", "train.milestones=[1]",  # the MultiStep drop after epoch 1, as 91 of 182
           "methods.tarf.epochs=3", "methods.tarf.t1=1", "methods.tarf.t0=1",
           "methods.scrub.msteps=1", "methods.iu.N=20"]
    return out + [f"methods.{m}.epochs=1" for m in ("ft", "rl", "ga", "bs", "l1_sparse", "salun", "scrub")]


def table(profile: str, tmp_path: Path, monkeypatch, seeds=()):
    """`tarf table <profile>` on tiny files in tmp_path (only ``seeds``, if given); (context,
    long-form table, the overrides it ran with)."""
    root = tmp_path / "data"
    cls, folder = (CIFAR10, write_cifar10(root)) if profile == "cifar10" else (CIFAR100, write_cifar100(root))
    lists = md5_lists(cls, folder)
    for k, v in lists.items():
        monkeypatch.setattr(cls, k, v)
    kernel_startup(tmp_path / "ipython", cls, lists)
    s = sets(profile, root)
    csv = tmp_path / "table.csv"
    assert cli.main(["table", profile, *(x for a in s for x in ("--set", a)),
                     *(x for sd in seeds for x in ("--seed", str(sd))), "--csv", str(csv)]) == 0
    over = cli.parse_set(s) | ({"seeds": list(seeds)} if seeds else {})
    return runner.context(profile, over), pd.read_csv(csv), over


def check_table(ctx, df: pd.DataFrame, seeds) -> None:
    """Every scenario x every row of Table 3 x seed, once each, in run_all's order; finite metrics."""
    exp = ctx.exp
    assert exp.scenarios == list(scenarios.SCENARIOS) and exp.seeds == seeds
    want = [(s, m, seed) for seed in seeds for s in exp.scenarios for m in runner.TABLE_ROWS]
    assert list(zip(df.scenario, df.method, df.seed)) == want and len(df) == 4 * 11 * len(seeds)
    assert (df.dataset == exp.dataset).all() and (df.split_hash == ctx.split.hash).all()
    rest = df[df.method != "retrained"]
    assert np.isfinite(df[["UA", "RA", "TA", "MIA", *TIMES]].to_numpy()).all()
    assert np.isfinite(rest.Gap).all() and df[df.method == "retrained"].Gap.isna().all()
    assert df[["UA", "RA", "TA", "MIA"]].apply(lambda c: c.between(0, 100)).all().all()
    assert df.groupby("scenario").UA_R.apply(lambda c: c.notna().all()).to_dict() == \
        {s: s == "model_mismatch" for s in exp.scenarios}  # UA on D_ar: model mismatch only
    assert (df[df.method == "original"].TIME_min == 0).all() and (rest[rest.method != "original"].TIME_min > 0).all()


def check_partitions(ctx, hierarchy: dict) -> None:
    """Each scenario's partitions from the data's labels and ``hierarchy`` (fine names per coarse
    name, in coarse-id order), the profile's requests read from its experiment.yaml."""
    ds, split = ctx.ds, ctx.split
    assert {c: list(fs) for c, fs in ds.hierarchy} == hierarchy
    requests = yaml.safe_load((ROOT / "params" / ctx.exp.dataset / "experiment.yaml").read_text())["requests"]
    y, y_test = ds.y_train.numpy(), ds.y_test.numpy()
    coarse = np.array([next(k for k, fs in enumerate(hierarchy.values()) if n in fs) for n in ds.classes])
    assert (split.train == np.arange(len(y))).all() and (split.test == np.arange(len(y_test))).all()
    for s, req in requests.items():
        sc = split[s]
        concept = hierarchy[req["concept"]] if isinstance(req["concept"], str) else req["concept"]
        given, concept = [ds.classes.index(c) for c in req["given"]], [ds.classes.index(c) for c in concept]
        fine_space = s in ("all_matched", "target_mismatch")
        lab = y if fine_space else coarse[y]
        in_f, in_t = np.isin(y, given), np.isin(y, concept)
        assert (sc.label_space, sc.num_classes) == (("fine", len(ds.classes)) if fine_space else ("coarse", len(hierarchy)))
        assert sorted(sc.concept) == sorted(ds.classes[c] for c in concept)
        parts = {"f": in_f, "t": in_t, "un": ~in_f, "fr": in_t & ~in_f, "r": ~in_t,
                 "ar": (~in_t & np.isin(lab, lab[in_f])) if not fine_space else np.zeros_like(in_f)}
        for p, mask in parts.items():
            assert (sc.idx[p] == np.flatnonzero(mask)).all(), (s, p)
        assert (sc.test_prime == np.flatnonzero(~np.isin(y_test, concept))).all()
        assert sc.K == len(set(lab[in_t & ~in_f]))
        assert np.isin(sc.mia_members, sc.r).all() and np.isin(sc.mia_nonmembers, sc.test_prime).all()
        assert len(sc.mia_members) == len(sc.mia_nonmembers) == min(len(sc.r), len(sc.test_prime))


def check_base_models(ctx) -> None:
    """The originals and every Retrained: 3-channel ResNets trained 2 epochs with the MultiStep drop
    after the first, with augmentation (the profile's recipe), on the CPU."""
    assert ctx.exp.train.schedule == "multistep" and ctx.exp.train.augment and ctx.exp.unlearn_augment
    for seed in ctx.exp.seeds:
        for role, ls, s in runner._base_jobs(ctx):
            model, rec = train.original(ctx.exp, ctx.ds, ctx.split, ls, seed) if role == "original" \
                else runner.retrained(ctx, s, seed)
            assert model.conv1.in_channels == 3 and model.fc.out_features == (
                len(ctx.ds.classes) if ls == "fine" else len(ctx.ds.hierarchy))
            assert [e["lr"] for e in rec["log"]] == pytest.approx([0.1, 0.01])  # the drop from epoch 2


@pytest.mark.slow  # about 27 s on an idle core
def test_cifar10_profile_end_to_end_and_notebook_10(tmp_path, monkeypatch, tmp_store):
    ctx, df, over = table("cifar10", tmp_path, monkeypatch, seeds=[0, 1])
    check_table(ctx, df, [0, 1])
    # docs/scenarios.md#cifar-10: the project's five pairs; data mismatch asks for road_vehicles
    check_partitions(ctx, {c: list(fs) for c, fs in data.CIFAR10_HIERARCHY})
    assert [ctx.split[s].K for s in scenarios.SCENARIOS] == [0, 1, 0, 1]
    assert dict(data.CIFAR10_HIERARCHY)["road_vehicles"] == ("automobile", "truck")
    check_base_models(ctx)

    # Notebook 10 on the same store: it finds every row (same keys) and runs the analysis on CIFAR-10.
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    models = sorted(p.name for p in (tmp_store / "models").glob("*.pt"))
    out = tmp_path / "10_full_table.ipynb"
    pm.execute_notebook(str(ROOT / "notebooks" / "10_full_table.ipynb"), str(out), kernel_name="python3",
                        parameters={"profile": "cifar10", "overrides": over}, cwd=str(tmp_path),
                        progress_bar=False, start_timeout=120)
    nb = json.loads(out.read_text())
    assert nb["metadata"]["papermill"]["parameters"]["overrides"] == over  # a dict, types kept
    text = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "data set cifar10: 4 scenarios x 10 methods + Original x seeds [0, 1]" in text
    assert "88 runs" in text
    assert sorted(p.name for p in (tmp_store / "models").glob("*.pt")) == models  # nothing retrained
    res = results_dir("cifar10")  # under TARF_OUTPUT (conftest)
    assert pd.read_csv(res / "table.csv").to_csv(index=False) == df.to_csv(index=False)  # the cached rows
    paper = pd.read_csv(res / "paper_comparison.csv")
    assert len(paper) == 4 * 10  # Retrained and the nine methods: Table 3 has no Original rows
    assert np.isfinite(paper[paper.method != "Retrained"]["Gap ours"]).all()
    assert (res / "claims.csv").is_file()


@pytest.mark.slow  # about 12 s on an idle core
def test_cifar100_profile_end_to_end(tmp_path, monkeypatch, tmp_store):
    ctx, df, _ = table("cifar100", tmp_path, monkeypatch, seeds=[0])
    check_table(ctx, df, [0])
    check_partitions(ctx, CIFAR100_SUPER)  # the meta file's 20 superclasses
    # docs/scenarios.md#cifar-100 test expectations
    assert ctx.ds.coarse_classes.index("people") == 14
    assert [ctx.ds.classes.index(c) for c in ("baby", "boy", "girl", "man", "woman")] == [2, 11, 35, 46, 98]
    assert [ctx.split[s].K for s in scenarios.SCENARIOS] == [0, 3, 0, 1]
    ar = ctx.split["model_mismatch"].ar
    assert {ctx.ds.classes[c] for c in ctx.ds.y_train[ar].tolist()} == {"baby", "man", "woman"}
    assert ctx.exp.methods["tarf"]["k_target"] == 0.5  # the profile's own CIFAR-100 k, kept
    check_base_models(ctx)
