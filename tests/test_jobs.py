"""What each job takes from the config (``poolstudy.jobs``)."""

from __future__ import annotations

import copy

from conftest import REPO
from test_plan import DEFAULT

from poolstudy.config import load_config, validate_config
from poolstudy.jobs import (
    PROTOCOL_SETTINGS,
    cluster_device_problem,
    evaluation_settings,
    job_placement,
    raw_data_args,
    training_settings,
)
from poolstudy.plan import condition_settings


def test_a_training_job_takes_only_its_own_operators_options_and_a_placement_that_is_on():
    """What a training job's parameters (and receipts) hold: its operator's options alone,
    and of a placement that is off only that it is off, so that editing another operator's
    options, or the region or grid of a placement no condition uses, retrains nothing."""
    config = copy.deepcopy(DEFAULT)
    config["model"]["operator_options"] = {"fracmax": {"test_draws": 8}, "blur": {"filter_size": 5}}
    config["placement"] = {"canvas": None, "region": "centre", "step": 4}
    config["conditions"]["placed"] = {"placement": {"canvas": 36}}
    config = validate_config(config)
    whole = condition_settings(config, "gap")
    fracmax = training_settings(config, "gap", "fracmax")
    own = {"fracmax": {"test_draws": 8}}
    assert fracmax["model"] == {**whole["model"], "operator_options": own}
    assert fracmax["train"] == whole["train"]
    assert fracmax["placement"] == {"canvas": None}
    assert training_settings(config, "gap", "max")["model"]["operator_options"] == {}
    # a placement that is on reaches the job whole: its region and grid
    placed = training_settings(config, "placed", "max")["placement"]
    assert placed == condition_settings(config, "placed")["placement"]
    assert placed == {"canvas": 36, "region": "centre", "step": 4}
    assert job_placement({"canvas": None, "region": "left", "step": 2}) == {"canvas": None}
    assert job_placement(placed) is placed


def test_a_study_sent_to_a_cluster_names_its_devices():
    """On a cluster the host that submits the jobs is not where they run: ``auto`` there
    would decide by the login node's GPUs, so it is refused, naming the sections and the
    conditions; a study that names its devices (config/paper.yaml: cuda) is not."""
    config = copy.deepcopy(DEFAULT)
    config["conditions"]["gap"] = {"train": {"device": "cpu"}}
    config = validate_config(config)
    assert cluster_device_problem(config) == (
        "train.device (condition flatten) and evaluate.device (conditions gap, flatten) are "
        "auto: on a cluster the host that submits the jobs cannot tell whether the nodes "
        "that run them have a GPU; name the device, cuda (as config/paper.yaml does) or cpu"
    )
    config["train"]["device"] = "cuda"
    assert cluster_device_problem(config).startswith(
        "evaluate.device (conditions gap, flatten) is auto: "
    )
    config["evaluate"]["device"] = "cpu"
    assert cluster_device_problem(config) == ""
    paper = load_config(REPO / "config" / "paper.yaml")
    assert cluster_device_problem(paper) == ""


def test_only_a_dataset_that_downloads_takes_the_raw_files_settings():
    data = {"raw_dir": "raw data/here", "mirror": None}
    for dataset in ("glyphs", "digits"):
        assert raw_data_args(data, dataset) == ""
    assert raw_data_args(data, "mnist") == "--raw-dir 'raw data/here'"
    mirrored = {"raw_dir": "data/raw", "mirror": "/mnt/my mirror"}
    assert raw_data_args(mirrored, "svhn") == "--raw-dir data/raw --mirror '/mnt/my mirror'"
    assert raw_data_args(mirrored, "glyphs") == ""


def test_an_evaluation_without_shift_protocols_takes_none_of_their_settings():
    config = copy.deepcopy(DEFAULT)
    config["conditions"]["clean"] = {"evaluate": {"protocols": [], "max_shift": 2}}
    config = validate_config(config)
    whole = condition_settings(config, "gap")["evaluate"]
    assert set(PROTOCOL_SETTINGS) < set(whole)
    assert evaluation_settings(config, "gap") == whole
    clean = condition_settings(config, "clean")["evaluate"]
    assert evaluation_settings(config, "clean") == {
        key: value for key, value in clean.items() if key not in PROTOCOL_SETTINGS
    }


def test_the_settings_an_evaluation_without_protocols_is_not_given_change_nothing_it_reports():
    """What justifies leaving ``PROTOCOL_SETTINGS`` out: evaluated with no shift protocol, a
    network gives the same table whatever they are (and with one, they matter)."""
    import torch
    from conftest import quiet
    from test_train import synthetic_dataset, train

    from poolstudy.evaluate import EvalConfig, evaluate_model

    data, model = synthetic_dataset(), train().model
    ones = {"max_shift": 1, "consistency_shift": 1, "subpixel_step": 0.5, "shift_images": None}
    others = {"max_shift": 3, "consistency_shift": 2, "subpixel_step": 0.25, "shift_images": 5}
    assert set(ones) == set(others) == set(PROTOCOL_SETTINGS)

    def table(protocols, settings):
        config = EvalConfig.from_dict({"protocols": protocols, **settings})
        return evaluate_model(copy.deepcopy(model), data, config, torch.device("cpu"), quiet).table

    assert table([], ones).equals(table([], others))
    assert not table(["circular"], ones).equals(table(["circular"], others))
