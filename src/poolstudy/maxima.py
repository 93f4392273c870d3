"""Maxima over pooling windows for inference, on strided views of the map.

PyTorch's pooling kernels also compute the indices their backward needs, and its fractional
max pooling kernel runs one window at a time; where no gradient is needed the same maxima
are elementwise maxima of shifted views (a maximum is exact and NaN propagates alike, so the
values are identical), several times faster on the CPU. Where a gradient is needed, PyTorch's
kernels run, so training (where the first maximum of a window receives the gradient) is
unchanged; inside ``pooling_kernel_everywhere`` they always run (the benchmarks' baselines).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F

_STRIDED_VIEW_MAX = True
"""Whether the functions below take strided views' maxima where no gradient is needed (off
only inside ``pooling_kernel_everywhere``)."""


@contextmanager
def pooling_kernel_everywhere():
    """Within this context PyTorch's pooling kernels always run: the networks as a user would
    write them with ``nn.MaxPool2d`` or ``F.fractional_max_pool2d`` (the benchmarks'
    baselines)."""
    global _STRIDED_VIEW_MAX
    previous, _STRIDED_VIEW_MAX = _STRIDED_VIEW_MAX, False
    try:
        yield
    finally:
        _STRIDED_VIEW_MAX = previous


def views_apply(x: torch.Tensor) -> bool:
    """Whether the strided views may replace PyTorch's kernel for ``x``: no gradient needed
    and not inside ``pooling_kernel_everywhere``."""
    return _STRIDED_VIEW_MAX and not (torch.is_grad_enabled() and x.requires_grad)


def max_2x2(x: torch.Tensor, stride: int, dilation: int = 1) -> torch.Tensor:
    """``F.max_pool2d(x, kernel_size=2, stride=stride, dilation=dilation)`` (no padding).
    Where no gradient is needed it is computed as the elementwise maximum of the window's
    rows, then of its columns, on strided views: 2-7x faster on the CPU than PyTorch's
    pooling kernel."""
    span = dilation + 1
    rows = (x.shape[-2] - span) // stride + 1
    cols = (x.shape[-1] - span) // stride + 1
    if not views_apply(x) or rows < 1 or cols < 1:
        return F.max_pool2d(x, kernel_size=2, stride=stride, dilation=dilation)
    last_row = (rows - 1) * stride + 1
    last_col = (cols - 1) * stride + 1
    down = torch.maximum(
        x[..., 0:last_row:stride, :], x[..., dilation : dilation + last_row : stride, :]
    )
    return torch.maximum(
        down[..., 0:last_col:stride], down[..., dilation : dilation + last_col : stride]
    )


def fractional_region_starts(
    samples: torch.Tensor, input_size: int, output_size: int, pool_size: int
) -> torch.Tensor:
    """The first row (or column) of each of ``output_size`` pooling regions per channel, from
    one random sample in [0, 1) per channel (``samples``, shape ``(channels,)``), by the
    pseudo-random sequence of Graham ("Fractional Max-Pooling", arXiv:1412.6071, 2014) as
    PyTorch's kernel computes it (``generate_intervals`` in ATen's FractionalMaxPooling.h):
    ``int((i + u) * alpha) - int(u * alpha)`` with ``alpha = (input - pool) / (output - 1)``,
    every operation in the samples' dtype, and the last region flush with the end; on the
    samples' device."""
    device = samples.device
    starts = torch.full(
        (samples.shape[0], output_size), input_size - pool_size, dtype=torch.long, device=device
    )
    if output_size > 1:
        dtype = samples.dtype
        alpha = torch.tensor(input_size - pool_size, dtype=dtype) / torch.tensor(
            output_size - 1, dtype=dtype
        )
        index = torch.arange(output_size - 1, dtype=dtype, device=device)
        offset = (samples * alpha).long()
        starts[:, :-1] = ((index + samples[:, None]) * alpha).long() - offset[:, None]
    return starts


def fractional_max(x: torch.Tensor, kernel_size: int, samples: torch.Tensor) -> torch.Tensor:
    """``F.fractional_max_pool2d(x, kernel_size, output_ratio=(0.5, 0.5), _random_samples=s)``
    where every image of the batch has the same samples (``samples``: ``(channels, 2)``, the
    column sample first, as PyTorch orders them; ``s`` is ``samples`` repeated per image).
    Where no gradient is needed: the maxima of every ``kernel_size`` window of rows, gathered
    at the regions' first rows, then the same for columns (3-4x faster on the CPU than
    PyTorch's kernel, which pools one region at a time)."""
    n, channels, height, width = x.shape
    rows, cols = int(height * 0.5), int(width * 0.5)
    k = kernel_size
    fits = rows >= 1 and cols >= 1 and rows + k - 1 <= height and cols + k - 1 <= width
    if not views_apply(x) or not fits:
        repeated = samples.expand(n, -1, -1).contiguous()
        return F.fractional_max_pool2d(x, k, output_ratio=(0.5, 0.5), _random_samples=repeated)
    row_starts = fractional_region_starts(samples[:, 1], height, rows, k)
    col_starts = fractional_region_starts(samples[:, 0], width, cols, k)
    window = sliding_max(x, k, dim=2)
    picked = torch.gather(window, 2, row_starts[None, :, :, None].expand(n, -1, -1, width))
    window = sliding_max(picked, k, dim=3)
    return torch.gather(window, 3, col_starts[None, :, None, :].expand(n, -1, rows, -1))


def sliding_max(x: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    """The maximum of every ``size`` consecutive entries along ``dim`` (stride 1)."""
    length = x.shape[dim] - size + 1
    window = x.narrow(dim, 0, length)
    for offset in range(1, size):
        window = torch.maximum(window, x.narrow(dim, offset, length))
    return window
