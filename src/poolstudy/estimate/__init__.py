"""How big a study is before it runs: Snakemake jobs, training and evaluation FLOPs per block,
and the predicted wall time on this machine's CPU (calibrated here) and on a named GPU (from a
stored table).

Jobs. One ``train`` and one ``evaluate`` job per cell, a cell being (dataset, condition,
operator) with all its seeds (``config['seeds']``, the sweep's ``sweep.seeds``); one
``prepare`` job per dataset used; and the single jobs :data:`SINGLE_JOBS`.

Blocks. ``main``: the main conditions without placement; ``placement``: the main conditions
whose ``placement.canvas`` is set; ``sweep``: the conditions of the data-size sweep
(``plan.SWEEP_PREFIX``). Each block's work is counted in forward FLOPs per image
(``models.count_flops``: 2 per multiply-add; pooling, BN and activations not counted; at test
time every pass of an operator's test-time draws, in training one pass, ``models.flop_counts``),
from the dataset shapes that the registry knows without loading any data
(``DatasetEntry.shape``):

- training a run: ``3 x one pass x images`` (forward plus a backward of twice its cost),
  with ``images = steps x min(batch_size, n)``; ``steps`` is ``train.steps``, else
  ``ceil(n / batch_size) x epochs``, and ``n`` the training split, or ``train.n_train`` when
  that is smaller; plus ``train.val_points`` evaluations of the validation split at test-time
  FLOPs (at most one per step);
- evaluating a run: one forward pass over each split (the training subset, validation, test;
  with placement the test images once more, centred), and per shift protocol the test images
  (at most ``evaluate.shift_images`` of them) under every shift of its grid
  (``evaluate.grid_for``, ``placement.position_grid``) plus the views of the stability
  metrics (``stability_views``).

With placement every forward pass sees the placement canvas. Wall time per job is
``FLOPs / rate + steps x step_seconds + job_seconds``: on the CPU the rates are measured here
for each network of the study (:func:`calibrate_cpu`: one thread, as each job runs with
``threads: 1``, and ``os.cpu_count()`` jobs at once; a pooled network reaches a third of the
FLOP rate of a full-resolution one), on a GPU they come from :data:`GPU_RATES` and jobs run
one at a time (``resources: gpu=1``).
"""

from poolstudy.estimate.calibrate import (
    CALIBRATED_NETWORKS,
    CPU_JOB_EXTRA_SECONDS,
    calibrate_cpu,
    networks_by_weight,
)
from poolstudy.estimate.cost import (
    BLOCKS,
    SINGLE_JOBS,
    TRAIN_FACTOR,
    Cell,
    CellCost,
    RunCost,
    StudyCost,
    cells,
    data_shape,
    eval_images,
    forward_flops,
    job_count,
    spec_key,
    study_cost,
    train_cost,
    training_pass_flops,
)
from poolstudy.estimate.gpu_check import CheckError, check_rates, read_check
from poolstudy.estimate.rates import (
    GPU_RATES,
    GpuRates,
    Rates,
    gpu_rates,
    job_seconds,
    si,
    wall_seconds,
)
from poolstudy.estimate.report import Report, build_report, format_report, report_json

__all__ = [
    "BLOCKS",
    "CALIBRATED_NETWORKS",
    "CPU_JOB_EXTRA_SECONDS",
    "GPU_RATES",
    "SINGLE_JOBS",
    "TRAIN_FACTOR",
    "Cell",
    "CellCost",
    "CheckError",
    "GpuRates",
    "Rates",
    "Report",
    "RunCost",
    "StudyCost",
    "build_report",
    "calibrate_cpu",
    "cells",
    "check_rates",
    "data_shape",
    "eval_images",
    "format_report",
    "forward_flops",
    "gpu_rates",
    "job_count",
    "job_seconds",
    "networks_by_weight",
    "read_check",
    "report_json",
    "si",
    "spec_key",
    "study_cost",
    "train_cost",
    "training_pass_flops",
    "wall_seconds",
]
