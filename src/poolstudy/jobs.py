"""What each Snakemake job takes from the config: the settings a training or evaluation job
receives as its parameters (and its receipts record), cut to what its networks read, so that
editing a setting no network of a cell reads reruns none of its jobs; and whether the study
can be sent to a cluster as it is. The workflow (``workflow/rules/common.smk``) runs these to
plan its jobs; the phases do not.
"""

from __future__ import annotations

import shlex

from poolstudy.plan import all_conditions, condition_settings


def raw_data_args(data: dict, dataset: str) -> str:
    """The raw files' arguments of the job that prepares ``dataset`` (config ``data``):
    ``--raw-dir`` and, where one is set, ``--mirror`` for a dataset that downloads; none for
    one that makes its data itself, so that editing where raw files live remakes no data but
    theirs."""
    from poolstudy.data import DATASETS

    if not DATASETS[dataset].downloads:
        return ""
    args = f"--raw-dir {shlex.quote(str(data['raw_dir']))}"
    if data.get("mirror"):
        args += f" --mirror {shlex.quote(str(data['mirror']))}"
    return args


def job_placement(placement: dict) -> dict:
    """A condition's ``placement`` as its jobs take it: whole where it places the images on a
    canvas, else only that it does not (``canvas: None``), so that editing the region or grid
    of a placement that is off reruns no job."""
    return placement if placement.get("canvas") is not None else {"canvas": None}


def training_settings(config: dict, condition: str, operator: str) -> dict[str, dict]:
    """The ``model``, ``train`` and ``placement`` sections as a training job of ``operator``
    in ``condition`` takes them (its rule's parameters, which its receipts record): the
    condition's, with ``model.operator_options`` cut to this operator's own (the network
    reads no other's: ``train.spec_options_for``) and the placement as ``job_placement``
    gives it; so that editing another operator's options retrains none of this one's runs."""
    settings = condition_settings(config, condition)
    model = dict(settings["model"])
    options = model.get("operator_options") or {}
    model["operator_options"] = {operator: options[operator]} if operator in options else {}
    return {
        "model": model,
        "train": settings["train"],
        "placement": job_placement(settings["placement"]),
    }


PROTOCOL_SETTINGS = ("max_shift", "consistency_shift", "subpixel_step", "shift_images")
"""The ``evaluate`` settings that only the shift protocols read (``poolstudy.evaluate``)."""


def evaluation_settings(config: dict, condition: str) -> dict:
    """The ``evaluate`` section as an evaluation job of ``condition`` takes it (its rule's
    parameter, which its receipts record): the condition's, less ``PROTOCOL_SETTINGS`` where
    it evaluates no shift protocol (clean accuracy alone, as a half-budget check does), so that
    editing them re-evaluates none of its networks."""
    settings = condition_settings(config, condition)["evaluate"]
    if settings["protocols"]:
        return settings
    return {key: value for key, value in settings.items() if key not in PROTOCOL_SETTINGS}


def cluster_device_problem(config: dict) -> str:
    """Why the study cannot be sent to a cluster as it is (empty if it can): a condition whose
    training or evaluation device is ``auto``, which the host that submits the jobs would
    decide for nodes it cannot see (a login node without a GPU would send GPU nodes jobs
    that ask for none and train on their CPUs)."""
    settings = {name: condition_settings(config, name) for name in all_conditions(config)}
    automatic = []
    for section in ("train", "evaluate"):
        names = [name for name, own in settings.items() if own[section]["device"] == "auto"]
        if names:
            automatic.append(
                f"{section}.device (condition{'s' * (len(names) > 1)} {', '.join(names)})"
            )
    if not automatic:
        return ""
    return (
        f"{' and '.join(automatic)} {'is' if len(automatic) == 1 else 'are'} auto: on a "
        "cluster the host that submits the jobs cannot tell whether the nodes that run them "
        "have a GPU; name the device, cuda (as config/paper.yaml does) or cpu"
    )
