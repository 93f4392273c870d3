"""Device choice and the fast paths: bf16 autocast on CUDA, channels_last everywhere, and a
forward batch size that suits the device."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path

import torch

GPU_LOCKS_ENV = "POOLSTUDY_GPU_LOCKS"
"""The folder of the GPUs' lock files (default: ``poolstudy-gpus-<uid>`` in the temporary
folder)."""
_claimed: dict[str, object] = {}  # this process's GPU and its lock file, held until it ends


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA when available, else the CPU; ``cuda`` without a GPU is an error.
    ``cuda`` without an index, where several GPUs are visible, is a GPU that no other job of
    this machine holds (``claim_gpu``): a local run with ``--resources gpu=N`` starts N GPU
    jobs at once, and they would all land on the first GPU (under SLURM each job sees only
    its own)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but no CUDA GPU is available; use 'auto'")
    gpus = torch.cuda.device_count() if device.type == "cuda" and device.index is None else 0
    if gpus > 1:
        index = claim_gpu(gpus)
        if index is None:
            print(
                f"warning: all {gpus} GPUs are held by other jobs; "
                "sharing cuda:0 (run Snakemake with --resources gpu=N)",
                file=sys.stderr,
            )
            index = 0
        torch.cuda.set_device(index)
        device = torch.device("cuda", index)
    return device


def device_kind(device: torch.device) -> str:
    """What of ``device`` a run's files depend on: the CPU (``cpu``), or a GPU by its model
    (``cuda (NVIDIA H100 80GB HBM3)``), never by its index: which of a host's GPUs a job
    claimed (``claim_gpu``) changes no result, so a seed made on one is kept, and its
    checkpoint resumed, on another of the same model."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type


def gpu_lock_dir() -> Path:
    default = Path(tempfile.gettempdir()) / f"poolstudy-gpus-{os.getuid()}"
    return Path(os.environ.get(GPU_LOCKS_ENV, default))


def claim_gpu(count: int, lock_dir: Path | None = None) -> int | None:
    """The index of the first of ``count`` GPUs whose lock file (``gpu-<i>.lock``) no other
    process holds, locked (``flock``) until this process ends; the same GPU on every later
    call; None where all are held. The kernel drops a lock when its process ends, however it
    ends, so a killed job leaves no GPU claimed."""
    if "index" in _claimed:
        return _claimed["index"]
    lock_dir = lock_dir or gpu_lock_dir()
    lock_dir.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        handle = open(lock_dir / f"gpu-{index}.lock", "a")  # held until this process ends
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        _claimed.update(index=index, handle=handle)
        return index
    return None


def configure(device: torch.device, threads: int | None, deterministic: bool) -> None:
    """Thread count and determinism for the process.

    Deterministic mode sets PyTorch's flag directly: ``torch.use_deterministic_algorithms``
    also imports ``torch._inductor`` to configure ``torch.compile`` (about 2 s per process),
    which no job here uses. Uninitialised memory is not filled with NaN (that debugging aid
    of deterministic mode cost training a third of its speed on the CPU, and no kernel used
    here reads memory it has not written: the trained bytes are the same with and without it).
    """
    if threads:
        torch.set_num_threads(threads)
    if deterministic:
        # Needed by cuBLAS for deterministic matrix products.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch._C._set_deterministic_algorithms(True, warn_only=device.type == "cuda")
        torch.utils.deterministic.fill_uninitialized_memory = False
        torch.backends.cudnn.benchmark = False
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def autocast(device: torch.device):
    """bf16 autocast on CUDA; full precision on the CPU."""
    if device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


def memory_format(device: torch.device) -> torch.memory_format:
    """channels_last on every device: cuDNN's fast NHWC kernels on CUDA, and on the CPU
    oneDNN's NHWC kernels, which ran these small networks 1.2-3x faster than NCHW."""
    return torch.channels_last


def to_device(tensor: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """A CPU ``tensor`` on ``device``; to a GPU by way of pinned memory, without waiting. A
    copy from ordinary (pageable) memory makes the host wait until the GPU has finished all
    the work queued before it: done once per training step (the offsets that augmentation and
    placement draw on the CPU, for the same draws on every device), it would keep the host
    from queueing the next step's kernels while the GPU runs this one. PyTorch keeps a pinned
    block until the copy from it has finished, so the tensor may be dropped at once."""
    device = torch.device(device)
    if device.type == "cuda":
        return tensor.pin_memory().to(device, non_blocking=True)
    return tensor.to(device)


EVAL_BATCH_SIZES = {"cpu": 128, "cuda": 4096}
"""Forward batch for evaluation when ``evaluate.batch_size`` is ``auto`` and no network is
given to size it (on the CPU: ``cache_fitted_batch``; on a GPU: ``memory_fitted_batch``)."""

CPU_CACHE_BYTES = 8 * 2**20
"""On the CPU a forward batch whose largest activation stays within about this many bytes
(the size of a core's share of the cache) runs fastest per image. Measured with one thread:
128 images of 16 channels at 32x32 (8 MiB) were 2-3x faster per image than 512 or more; on
16-pixel letters with 8 channels in the first stage, batches of 128 images (1 MiB) ran ``max``
at 31,000 images/s against 45,000 with 512, and ``stride`` at 39,000 with 512 against 48,000
with 2,048."""

MEMORY_FRACTION = 0.5
"""Share of the free device memory one evaluation batch may use: the shifted copies and the
scenes of in-context protocols come on top of what the probe measures."""
PROBE_BATCH = 256
MAX_EVAL_BATCH = 65536
INDEX_LIMIT = 2**31 - 1
"""Elements that a tensor may hold in CUDA kernels with 32-bit index math: reflection padding
(``blur``'s) refuses larger inputs, so no layer of an evaluation batch may exceed it."""


def eval_batch_size(device: torch.device, configured: int | str = "auto", model=None) -> int:
    """``evaluate.batch_size``: a number as given; ``auto``: the batch of ``model``'s inputs
    that suits the device, on the CPU the one whose largest activation fits the cache, on
    CUDA the largest that fits in part of the free memory (without a network that says its
    input, ``EVAL_BATCH_SIZES``)."""
    if configured != "auto":
        return int(configured)
    if model is not None and hasattr(model, "spec"):
        if device.type == "cuda":
            return memory_fitted_batch(model, device)
        if device.type == "cpu":
            return cache_fitted_batch(model)
    return EVAL_BATCH_SIZES.get(device.type, EVAL_BATCH_SIZES["cpu"])


@torch.no_grad()
def largest_activation(model) -> int:
    """Elements of the largest output of any layer of ``model`` for one input image (its
    ``spec`` gives the input's shape), measured by a forward pass on the model's device (the
    CPU for a model without parameters)."""
    spec = model.spec
    device = next(model.parameters(), torch.empty(0)).device
    largest = spec.in_channels * spec.image_size**2
    hooks = []

    def record(_module, _inputs, output):
        nonlocal largest
        if isinstance(output, torch.Tensor):
            largest = max(largest, output[0].numel())

    for module in model.modules():
        if not list(module.children()):
            hooks.append(module.register_forward_hook(record))
    was_training = model.training
    model.eval()
    try:
        model(torch.zeros(1, spec.in_channels, spec.image_size, spec.image_size, device=device))
    finally:
        model.train(was_training)
        for hook in hooks:
            hook.remove()
    return largest


def cache_fitted_batch(model, cache_bytes: int = CPU_CACHE_BYTES) -> int:
    """The CPU's evaluation batch for ``model``: the largest power of two of images whose
    largest activation (float32) fits in ``cache_bytes``, at least 32 (``CPU_CACHE_BYTES``)."""
    return max(32, fit_batch(cache_bytes, 4 * largest_activation(model)))


def fit_batch(budget_bytes: float, bytes_per_image: float, cap: int = MAX_EVAL_BATCH) -> int:
    """The largest power of two of images whose ``bytes_per_image`` fit in ``budget_bytes``
    (at least 1, at most ``cap``)."""
    if bytes_per_image <= 0:
        return cap
    fitting = int(budget_bytes // bytes_per_image)
    batch = 1
    while batch * 2 <= min(fitting, cap):
        batch *= 2
    return batch


@torch.no_grad()
def memory_fitted_batch(model, device: torch.device, fraction: float = MEMORY_FRACTION) -> int:
    """Measure the peak memory of a forward pass of ``PROBE_BATCH`` images and size the
    evaluation batch to ``fraction`` of the free device memory (CUDA only), at most the batch
    whose layers stay within 32-bit index math (``index_safe_batch``)."""
    spec = model.spec
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    probe = torch.zeros(
        PROBE_BATCH, spec.in_channels, spec.image_size, spec.image_size, device=device
    ).contiguous(memory_format=memory_format(device))
    was_training = model.training
    model.eval()
    with autocast(device):
        model(probe)
    model.train(was_training)
    torch.cuda.synchronize(device)
    per_image = (torch.cuda.max_memory_allocated(device) - before) / PROBE_BATCH
    del probe
    free, _total = torch.cuda.mem_get_info(device)
    return fit_batch(fraction * free, per_image, cap=index_safe_batch(model))


def index_safe_batch(model) -> int:
    """The largest power of two of images (at most ``MAX_EVAL_BATCH``) for which twice the
    largest activation of ``model`` stays within ``INDEX_LIMIT`` elements: the margin covers
    the tensors inside a layer, such as ``blur``'s padded input, a little larger than its
    output."""
    return fit_batch(INDEX_LIMIT, 2 * largest_activation(model))


def visible_gpus() -> int:
    """How many CUDA GPUs torch would see, without importing torch (seconds per ``snakemake``
    start): ``CUDA_VISIBLE_DEVICES`` when set, else the devices ``nvidia-smi -L`` lists."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [part.strip() for part in visible.split(",") if part.strip()]
        valid = []
        for part in ids:
            if part.startswith("-"):  # torch stops at the first invalid id
                break
            valid.append(part)
        return len(valid)
    if shutil.which("nvidia-smi") is None:
        return 0
    try:
        listing = subprocess.run(
            ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return sum(1 for line in listing.splitlines() if line.startswith("GPU "))


def uses_cuda(name: str, gpus: int) -> bool:
    """Whether a job configured with device ``name`` runs on a GPU when ``gpus`` are visible
    (``auto`` picks CUDA when there is one; ``cuda``/``cuda:N`` always do)."""
    return name.startswith("cuda") or (name == "auto" and gpus > 0)
