"""tarf.params: every bad value is a ParamsError naming the key, the value and what would be valid,
raised before anything is computed or written (the store stays empty)."""

import pytest
import yaml

from tarf import params
from tarf.params import ParamsError

SMOKE = {"num_threads": 1}


def smoke_raw() -> dict:
    return params.read_yaml(params.profile_path("smoke"))


def write_yaml(path, obj) -> str:
    path.write_text(yaml.safe_dump(obj))
    return str(path)


# (id, overrides on the smoke profile, words the message must contain — key, value, valid choices)
BAD_OVERRIDES = [
    ("unknown-kernels", {"kernels": "fast"}, ["kernels: unknown 'fast'", "valid: native, portable"]),
    ("unknown-top-level-key", {"epochs": 3},
     ["unknown key epochs", "valid keys:", "dataset", "train", "seeds"]),
    ("unknown-nested-key", {"model": {"depth": 18}},
     ["unknown key model.depth", "valid keys: arch, width"]),
    ("unknown-request-key", {"requests": {"all_matched": {"givn": ["Sneaker"]}}},
     ["unknown key requests.all_matched.givn", "valid keys: given, concept"]),
    ("wrong-type-epochs", {"train": {"epochs": "ten"}},
     ["train.epochs", "'ten'", "expected float", "(str)"]),
    ("wrong-type-given", {"requests": {"all_matched": {"given": "Sneaker"}}},
     ["requests.all_matched.given", "expected a list", "'Sneaker'"]),
    ("wrong-type-concept", {"requests": {"all_matched": {"concept": 7}}},
     ["requests.all_matched.concept", "7", "list[str] | str"]),
    ("unknown-dataset", {"dataset": "mnist"},
     ["dataset: unknown 'mnist'", "valid: fmnist_embedded, fmnist, cifar10, cifar100"]),
    ("unknown-scenario", {"scenarios": ["all_matched", "all_mismatched"]},
     ["scenarios: unknown 'all_mismatched'", "valid: all_matched, target_mismatch, model_mismatch, data_mismatch"]),
    ("unknown-request-scenario", {"requests": {"partial": {"given": ["Sneaker"], "concept": ["Sneaker"]}}},
     ["requests.partial: unknown scenario", "valid: all_matched"]),
    ("unknown-method", {"methods": {"sgd": {}}},
     ["methods.sgd", "unknown method 'sgd'", "valid methods: ft, rl, ga, iu, bs, l1_sparse, salun, scrub, tarf"]),
    ("unknown-method-hyper-parameter", {"methods": {"ga": {"alpha": 1.0}}},
     ["methods.ga.alpha: unknown hyper-parameter", "valid: batch_size, bn_stats, epochs, lr, momentum, weight_decay"]),
    ("method-hyper-parameter-wrong-type", {"methods": {"rl": {"exclude_true_label": 1}}},
     ["methods.rl.exclude_true_label", "expected bool", "got 1 (int)"]),
    ("method-batch-size-zero", {"methods": {"ft": {"batch_size": 0}}},
     ["methods.ft.batch_size", "must be an integer >= 1", "got 0"]),
    ("method-batch-size-float", {"methods": {"tarf": {"batch_size": 32.0}}},
     ["methods.tarf.batch_size", "must be an integer >= 1", "got 32.0"]),
    ("method-epochs-zero", {"methods": {"ft": {"epochs": 0}}},
     ["methods.ft.epochs", "must be a number > 0", "got 0"]),
    ("method-epochs-bool", {"methods": {"ft": {"epochs": True}}},
     ["methods.ft.epochs", "expected a number", "True (bool)"]),
    ("zero-epochs", {"train": {"epochs": 0}}, ["train.epochs: must be > 0", "got 0"]),
    ("negative-epochs", {"train": {"epochs": -2}}, ["train.epochs: must be > 0", "got -2"]),
    ("negative-lr", {"train": {"lr": -0.1}}, ["train.lr: must be > 0", "got -0.1"]),
    ("zero-batch-size", {"train": {"batch_size": 0}}, ["train.batch_size: must be > 0", "got 0"]),
    ("zero-unlearn-batch-size", {"unlearn_batch_size": 0}, ["unlearn_batch_size: must be > 0", "got 0"]),
    ("float-batch-size", {"train": {"batch_size": 12.5}}, ["train.batch_size", "expected int", "12.5 (float)"]),
    ("seed-float", {"seeds": [0.5]}, ["seeds[0]", "expected int", "0.5 (float)"]),
    ("seed-string", {"seeds": ["a"]}, ["seeds[0]", "expected int", "'a' (str)"]),
    ("seed-bool", {"seeds": [0, True]}, ["seeds[1]", "expected int", "True (bool)"]),
    ("seed-negative", {"seeds": [-1]}, ["seeds[0]", "non-negative integer", "-1"]),
    ("seeds-empty", {"seeds": []}, ["seeds", "at least one integer seed"]),
    ("seeds-not-a-list", {"seeds": 0}, ["seeds", "expected a list", "0"]),
    ("split-seed-negative", {"split_seed": -3}, ["split_seed", "non-negative integer", "-3"]),
    ("split-seed-bool", {"split_seed": False}, ["split_seed", "expected int", "False (bool)"]),
    ("augment-int", {"train": {"augment": 1}}, ["train.augment", "expected bool", "1 (int)"]),
    ("width-bool", {"model": {"width": True}}, ["model.width", "expected int", "True (bool)"]),
    ("unknown-arch", {"model": {"arch": "vgg16"}}, ["model.arch: unknown 'vgg16'", "valid: resnet18"]),
    ("unknown-schedule", {"train": {"schedule": "cosine"}},
     ["train.schedule: unknown 'cosine'", "valid: multistep, onecycle, constant"]),
    ("unknown-device", {"device": "tpu"}, ["device: unknown 'tpu'", "valid: cpu, cuda, cuda:N"]),
    ("val-fraction-one", {"val_fraction": 1.0}, ["val_fraction", "[0, 1)", "1.0"]),
    ("subset-zero", {"subset": {"train_per_class": 0}}, ["subset.train_per_class", "positive integer or null", "0"]),
    ("subset-bool", {"subset": {"test_per_class": True}}, ["subset.test_per_class", "True", "int | None"]),
    ("requests-null", {"requests": None},
     ["requests", "expected a mapping"]),
]


@pytest.mark.parametrize("overrides,words", [b[1:] for b in BAD_OVERRIDES], ids=[b[0] for b in BAD_OVERRIDES])
def test_bad_value(overrides, words, files):
    with pytest.raises(ParamsError) as e:
        params.load("smoke", {**SMOKE, **overrides})
    msg = str(e.value)
    for w in words:
        assert w in msg, (w, msg)
    assert "\n" not in msg
    assert files() == []


def test_scenario_listed_without_a_request(tmp_path):
    raw = smoke_raw()
    del raw["requests"]["data_mismatch"]
    with pytest.raises(ParamsError, match=r"requests\.data_mismatch: missing; every scenario in `scenarios`"):
        params.load(write_yaml(tmp_path / "exp.yaml", raw))


def test_missing_required_key(tmp_path):
    raw = smoke_raw()
    del raw["dataset"]
    with pytest.raises(ParamsError, match="missing key dataset"):
        params.load(write_yaml(tmp_path / "exp.yaml", raw))


def test_unknown_profile():
    with pytest.raises(ParamsError) as e:
        params.load("smok")
    assert "profile: unknown 'smok'" in str(e.value)
    assert "valid: " in str(e.value) and "smoke" in str(e.value) and "default" in str(e.value)


def test_file_that_is_not_yaml(tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("a: [1,\n")
    with pytest.raises(ParamsError) as e:
        params.load(str(p))
    assert str(p) in str(e.value) and "not valid YAML" in str(e.value)


def test_yaml_that_is_not_a_mapping(tmp_path):
    p = tmp_path / "list.yaml"
    p.write_text("- dataset: fmnist_embedded\n- seeds: [0]\n")
    with pytest.raises(ParamsError) as e:
        params.load(str(p))
    assert str(p) in str(e.value) and "expected a YAML mapping" in str(e.value) and "got list" in str(e.value)


def test_unreadable_file(tmp_path):
    p = tmp_path / "absent.yaml"
    with pytest.raises(ParamsError) as e:
        params.load(str(p))
    assert str(p) in str(e.value) and "cannot read" in str(e.value) and "No such file" in str(e.value)


# --- what is accepted -----------------------------------------------------------------------------

def test_smoke_and_default_profiles_validate():
    for profile in ("smoke", "default"):
        exp = params.load(profile)
        assert exp.profile == profile and exp.dataset == "fmnist_embedded"


def test_int_is_accepted_where_a_float_is_expected():
    exp = params.load("smoke", {"train": {"epochs": 2, "lr": 1}, "val_fraction": 0})
    assert exp.train.epochs == 2.0 and isinstance(exp.train.epochs, float) and isinstance(exp.train.lr, float)


def test_yaml_file_profile_name_is_its_stem(tmp_path):
    exp = params.load(write_yaml(tmp_path / "mine.yaml", smoke_raw()))
    assert exp.profile == "mine"


def test_overrides_are_deep_merged():
    exp = params.load("smoke", {"train": {"epochs": 2}, "methods": {"ga": {"lr": 0.001}}})
    assert exp.train.epochs == 2 and exp.train.batch_size == 32  # siblings kept
    assert exp.methods["ga"] == {"epochs": 1, "lr": 0.001} and exp.methods["tarf"]["t1"] == 1


def test_deep_merge_does_not_modify_its_inputs():
    base, over = {"a": {"b": 1, "c": 2}}, {"a": {"b": 3}}
    assert params.deep_merge(base, over) == {"a": {"b": 3, "c": 2}}
    assert base == {"a": {"b": 1, "c": 2}} and over == {"a": {"b": 3}}


def test_concept_may_be_a_superclass_name_or_a_list():
    exp = params.load("smoke")
    assert exp.requests["target_mismatch"].concept == "footwear"
    assert exp.requests["all_matched"].concept == ["Sneaker"]


def test_portable_kernels_get_their_own_cache_keys():
    """Native float32 keys are as before (no stored model is orphaned); portable ones differ."""
    native = params.load("default", {})
    portable = params.load("default", {"kernels": "portable"})
    assert params.precision_key(native) == {}
    assert params.precision_key(portable) == {"kernels": "portable"}


def test_notebook_parameters_of_the_wrong_type_are_one_clear_line():
    from tarf.params import check_parameters

    ns = {"__annotations__": {"profile": str, "overrides": dict, "seeds": list, "tolerance": float, "k": int},
          "profile": "smoke", "overrides": {}, "seeds": [0], "tolerance": 5, "k": 10}
    check_parameters(ns)  # an int where a float is annotated is fine
    with pytest.raises(ParamsError) as e:
        check_parameters({**ns, "overrides": '{"methods": {"ga": {"lr": 0.003}}}'})
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("notebook parameter overrides: expected dict, got str")
    assert "papermill -y 'overrides: <dict value>'" in msg
    with pytest.raises(ParamsError, match=r"notebook parameter k: expected int, got bool True"):
        check_parameters({**ns, "k": True})
    with pytest.raises(ParamsError, match=r"parameter tolerance: expected float, got str '5'; pass it as papermill -p"):
        check_parameters({**ns, "tolerance": "5"})
