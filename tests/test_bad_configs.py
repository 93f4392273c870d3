"""Every config that cannot run is refused before any job starts, with one message that names
the key, the value and what would be valid: the table tests/data/bad_configs.yaml through
``validate_config`` (what ``check-config``, the Snakefile and so ``dvc repro`` call), one case
through the real ``check-config`` command and one through ``snakemake -n``."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from poolstudy.config import ConfigError, load_config, validate_config
from poolstudy.plan import deep_merge

REPO = Path(__file__).resolve().parents[1]
BASES = {"tiny": REPO / "tests" / "data" / "tiny.yaml", "default": REPO / "config" / "config.yaml"}
CASES = yaml.safe_load((REPO / "tests" / "data" / "bad_configs.yaml").read_text())


def bad_config(case: dict) -> dict:
    return deep_merge(yaml.safe_load(BASES[case["base"]].read_text()), case["patch"])


def refusal(config: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    return str(info.value)


@pytest.mark.bad_config
@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_bad_config_is_refused_with_the_key_the_value_and_what_is_valid(case):
    message = refusal(bad_config(case))
    for words in case["expect"]:
        assert words in message, f"{words!r} not in:\n{message}"
    if "message" in case:  # the whole refusal: one line per problem
        assert message == "\n  ".join(["invalid configuration:", *case["message"]])


def test_the_bases_of_the_bad_configs_are_valid():
    """The bases are valid, so each refusal comes from its patch."""
    for base in BASES.values():
        assert load_config(base)


def test_a_missing_mirror_stops_no_study_that_downloads_nothing():
    """The mirror is read only to prepare a dataset that downloads: a shared config's mirror
    that this machine lacks is refused where such a dataset is trained on, not otherwise."""
    case = next(c for c in CASES if c["name"].startswith("a data mirror that does not exist"))
    config = bad_config(case)
    assert "data.mirror" in refusal(config)
    config["datasets"] = ["digits"]  # fashion_mnist downloads; digits ships with scikit-learn
    assert validate_config(config)["data"]["mirror"] == "/nonexistent/poolstudy-mirror"


@pytest.mark.bad_config
@pytest.mark.child
def test_the_check_config_command_refuses_a_bad_config_in_one_message(tmp_path):
    case = next(c for c in CASES if c["name"] == "more stages than the image can be halved for")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad_config(case)))
    result = subprocess.run(
        [sys.executable, "-m", "poolstudy", "check-config", str(path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("poolstudy check-config: invalid configuration:")
    for words in case["expect"]:
        assert words in result.stderr


def snakemake_dry_run(tmp_path, overrides: dict) -> tuple[int, str]:
    """Exit status and output of ``snakemake -n`` on the default config with ``overrides``."""
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(overrides))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "snakemake"), "-n", "--configfile", str(path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.bad_config
@pytest.mark.child
def test_snakemake_refuses_a_bad_config_before_any_job(tmp_path):
    status, output = snakemake_dry_run(tmp_path, {"seeds": [0, 0]})
    assert status != 0
    assert "config key seeds: [0, 0] has non-unique elements" in output
    assert "Job stats" not in output and "Traceback" not in output


@pytest.mark.bad_config
@pytest.mark.child
def test_snakemake_refuses_a_record_that_does_not_exist_before_any_job(tmp_path):
    status, output = snakemake_dry_run(tmp_path, {"primary": {"recorded": ["longer"]}})
    assert status != 0
    assert "config key primary.recorded: no recorded run 'longer'" in output
    assert "recorded runs: convergence" in output
    assert "Job stats" not in output


def test_checking_the_default_config_is_fast():
    """Snakemake validates the config at every start: the cross-key checks (networks built
    once per cell) must cost well under a second."""
    config = yaml.safe_load(BASES["default"].read_text())
    validate_config(yaml.safe_load(BASES["default"].read_text()))  # imports, caches
    start = time.perf_counter()
    validate_config(config)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("base", list(BASES))
def test_the_checks_build_the_networks_that_training_builds(base):
    """``checks.network_spec`` (which ``estimate`` sizes a study with) is the network that
    ``train.build_network`` builds for every cell of the shipped configs, from a dataset of
    the prepared shape: its channels, classes, image size or placement canvas."""
    import torch

    from poolstudy.checks import Study, network_spec
    from poolstudy.data.prepare import PreparedDataset
    from poolstudy.placement import PlacementConfig
    from poolstudy.train import TrainConfig, build_network, spec_options_for, training_inputs

    study = Study.of(load_config(BASES[base]))
    for dataset, condition, operator in study.cells:
        shape, settings = study.prepared[dataset], study.settings[condition]
        size = (shape.in_channels, shape.image_size, shape.image_size)
        data = PreparedDataset(
            name=dataset,
            images=torch.zeros((3, *size), dtype=torch.uint8),
            labels=torch.zeros(3, dtype=torch.long),
            split=torch.tensor([0, 1, 2], dtype=torch.uint8),
            classes=[str(k) for k in range(shape.num_classes)],
        )
        train = TrainConfig.from_dict({**settings["train"], "device": "cpu"})
        placement = PlacementConfig.from_dict(settings["placement"])
        inputs = training_inputs(data, train, placement, 0, torch.device("cpu"))
        options = spec_options_for(settings["model"], operator)
        built = build_network(data, inputs, operator, options).spec
        assert network_spec(operator, shape, settings) == built, (condition, operator)


def test_a_split_of_one_image_is_enough():
    from poolstudy.data.prepare import val_count

    config = bad_config({"base": "tiny", "patch": {"data": {"split": {"val_fraction": 0.0008}}}})
    assert val_count(1348, 0.0008) == 1  # the validation split of the tiny study's digits
    assert validate_config(config)["data"]["split"]["val_fraction"] == 0.0008


@pytest.mark.parametrize(("size", "limit"), [(11, 13), (12, 13)])
def test_a_shift_up_to_the_limit_is_allowed_and_one_more_refused(size, limit):
    """The limit is (canvas + size - 1) // 2 on the tiny study's 16-pixel canvas."""
    patch = {"data": {"options": {"digits": {"size": size, "canvas": 16}}}}
    at_limit = deep_merge(patch, {"evaluate": {"max_shift": limit}})
    assert validate_config(bad_config({"base": "tiny", "patch": at_limit}))
    beyond = deep_merge(patch, {"evaluate": {"max_shift": limit + 1}})
    assert f"choose at most {limit} (in conditions" in refusal(
        bad_config({"base": "tiny", "patch": beyond})
    )


def test_a_training_subset_as_large_as_the_split_and_datasets_without_options_are_valid():
    whole_split = bad_config({"base": "tiny", "patch": {"train": {"n_train": 1146}}})
    assert validate_config(whole_split)["train"]["n_train"] == 1146
    config = bad_config({"base": "tiny", "patch": {}})
    config["data"]["options"] = {}  # digits at their default size (24), no canvas
    config["conditions"]["placed"]["placement"]["canvas"] = 26
    assert validate_config(config)["data"]["options"] == {}


def test_mnists_training_split_is_the_fractions_to_fill():
    """MNIST's test split is its own, its validation split is drawn by val_fraction: an empty
    training split is the fractions' doing."""
    config = bad_config({"base": "tiny", "patch": {"data": {"split": {"val_fraction": 0.9999999}}}})
    config |= {"datasets": ["mnist"], "sweep": None, "primary": None}
    config["data"]["options"] = {"mnist": {}}
    config["train"]["n_train"] = None
    del config["conditions"]["placed"]  # a canvas smaller than MNIST's images
    assert refusal(config) == (
        "invalid configuration:\n  config key data.split: val_fraction 0.9999999 and "
        "test_fraction 0.25 leave the train split of mnist empty (train 0, val 60000, test "
        "10000); choose fractions that leave every split at least one image"
    )


def test_a_sub_pixel_step_matters_only_where_a_sub_pixel_protocol_runs():
    patch = {"evaluate": {"subpixel_step": 0.4, "protocols": ["circular", "zero"]}}
    config = bad_config({"base": "tiny", "patch": patch})
    assert validate_config(config)["evaluate"]["subpixel_step"] == 0.4


@pytest.mark.parametrize("step", [1, 0.5, 0.25, 0.2, 0.3333])
def test_a_sub_pixel_step_that_divides_a_pixel_is_allowed(step):
    """1/n, thirds written to four digits included."""
    config = bad_config({"base": "tiny", "patch": {"evaluate": {"subpixel_step": step}}})
    assert validate_config(config)["evaluate"]["subpixel_step"] == step
