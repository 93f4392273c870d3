"""The process-wide settings of PyTorch that ``device.configure`` sets (deterministic mode,
filling uninitialised memory, cuDNN's benchmarking, cuBLAS's workspace), kept across a block
that changes them: the benchmarks run parts of their work in other settings than the rest
(``evaluation_settings``: those of an evaluation job)."""

from __future__ import annotations

import os
from contextlib import contextmanager

import torch

from poolstudy import device as devices


@contextmanager
def kept_settings():
    """Run the block, then put every setting back as it was before it, also where it
    raised."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.utils.deterministic.fill_uninitialized_memory,
        torch.backends.cudnn.benchmark,
        os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
    )
    try:
        yield
    finally:
        enabled, warn_only, fill, benchmark, workspace = saved
        torch._C._set_deterministic_algorithms(enabled, warn_only=warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = fill
        torch.backends.cudnn.benchmark = benchmark
        if workspace is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = workspace


@contextmanager
def evaluation_settings(device: torch.device):
    """The process's determinism settings as an evaluation job sets them (``evaluate_cell``
    runs deterministic on every device: on CUDA, cuDNN's deterministic algorithms and no
    benchmarking), put back as they were on leaving: the check trains as
    ``config/paper.yaml`` does, without deterministic mode."""
    with kept_settings():
        devices.configure(device, None, deterministic=True)
        yield
