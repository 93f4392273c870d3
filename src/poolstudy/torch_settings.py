"""The process-wide settings of PyTorch that ``device.configure`` sets (deterministic mode,
filling uninitialised memory, cuDNN's benchmarking, cuBLAS's workspace), kept across a block
that changes them: the benchmarks run parts of their work in other settings than the rest."""

from __future__ import annotations

import os
from contextlib import contextmanager

import torch


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
