"""A GPU's rates as the device check measured them (``python -m poolstudy bench --device cuda
--out FILE``), in place of the assumptions of ``rates.GPU_RATES``."""

from __future__ import annotations

import json
import math
import os
import statistics
from pathlib import Path

from poolstudy.estimate.calibrate import CPU_JOB_EXTRA_SECONDS
from poolstudy.estimate.cost import StudyCost, training_by_network
from poolstudy.estimate.rates import Rates, si

OPERATOR_KEYS = ("operator", "train_tflops", "eval_tflops")
NETWORK_KEYS = ("network", "train_tflops", "eval_tflops")
LOOP_KEYS = ("step_seconds", "bare_step_seconds")


class CheckError(ValueError):
    """A device check's file that cannot give a GPU's rates."""


def short_name(device_name: str) -> str:
    """'NVIDIA H100 80GB HBM3' -> 'H100', 'NVIDIA A100-SXM4-40GB' -> 'A100': the first word
    after the vendor's with a digit in it, up to a hyphen."""
    words = device_name.split()
    model = next((word for word in words[1:] if any(c.isdigit() for c in word)), device_name)
    return model.split("-")[0]


def read_check(path: str | os.PathLike) -> dict:
    """The figures of a device check run on a GPU, with everything ``check_rates`` reads."""
    path = Path(path)
    try:
        check = json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckError(
            f"{path}: no such file (write one with `python -m poolstudy bench "
            "--device cuda --out FILE`)"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise CheckError(f"{path}: cannot be read ({reason})") from None
    except json.JSONDecodeError as error:
        raise CheckError(f"{path}: not a JSON file of the device check ({error})") from None
    if not isinstance(check, dict) or not str(check.get("device")).startswith("cuda"):
        raise CheckError(
            f"{path}: not a device check run on a GPU (its device: "
            f"{check.get('device') if isinstance(check, dict) else None!r})"
        )
    from poolstudy.devicebench import CHECK_FORMAT  # the writer's, imported only to read one

    if check.get("format") != CHECK_FORMAT:
        raise CheckError(
            f"{path}: written by an older device check (format {check.get('format', 1)!r}, "
            f"not {CHECK_FORMAT}); run it again"
        )
    if not isinstance(check.get("device_name", ""), str):
        raise CheckError(f"{path}: its device_name must be text, not {check['device_name']!r}")
    rows = check.get("operators")
    if not isinstance(rows, list) or not rows or not all(map(has_operator_keys, rows)):
        raise CheckError(
            f"{path}: the check has no operators' training and evaluation "
            "figures (written by an older check? run it again)"
        )
    errors = mapping(check.get("errors"))
    networks = check.get("networks")
    if not isinstance(networks, list) or not all(
        has_keys(row, NETWORK_KEYS, "network") for row in networks
    ):
        why = mapping(networks).get("skipped") or last_line(errors.get("networks")) or NO_FIGURES
        raise CheckError(f"{path}: the check did not time the study's networks ({why})")
    for row in rows:
        check_rate_pair(path, row, row["operator"])
    for row in networks:
        check_rate_pair(path, row, f"the network {network_label(row)}")
    if failed := [key for key in errors if str(key).startswith(("operator ", "network "))]:
        reasons = "; ".join(f"{key}: {last_line(errors[key]) or '?'}" for key in failed)
        raise CheckError(f"{path}: the check failed for some operators or networks ({reasons})")
    loop = mapping(check.get("engine_loop"))
    if not all(is_number(loop.get(key)) for key in LOOP_KEYS):  # a skipped or failed loop has none
        why = loop.get("skipped") or last_line(errors.get("engine_loop")) or NO_FIGURES
        raise CheckError(f"{path}: the check did not time the engine's training loop ({why})")
    if not is_number(check.get("job_start_seconds")):
        why = last_line(errors.get("job_start_seconds")) or NO_FIGURES
        raise CheckError(f"{path}: the check did not time a job's start-up ({why})")
    times = {key: loop[key] for key in LOOP_KEYS} | {
        "job_start_seconds": check["job_start_seconds"]
    }
    if bad := [f"{key} {value!r}" for key, value in times.items() if not 0 <= value < math.inf]:
        raise CheckError(f"{path}: times must be finite seconds >= 0, not {', '.join(bad)}")
    return check


NO_FIGURES = "no such figures in the file: an older check?"


def is_number(value) -> bool:
    """An int or float of JSON that a float can hold (``true``, read as a bool, is not one,
    nor an integer of 400 digits, which would overflow the arithmetic). ``Infinity`` and
    ``NaN``, which Python's ``json`` reads, are: the callers bound them."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


def mapping(value) -> dict:
    """A JSON object as a dict; anything else (absent, ``null``, a list) as an empty one."""
    return value if isinstance(value, dict) else {}


def has_operator_keys(row) -> bool:
    """A row with every key of ``OPERATOR_KEYS``, its operator named by a string."""
    return has_keys(row, OPERATOR_KEYS, "operator")


def has_keys(row, keys: tuple[str, ...], name: str) -> bool:
    """A mapping with every key of ``keys``, its ``name`` a string."""
    return isinstance(row, dict) and all(key in row for key in keys) and isinstance(row[name], str)


def network_label(row: dict) -> str:
    """'none_rf (glyphs/primary)': a timed network's operator, dataset and condition."""
    return f"{row.get('operator', '?')} ({row.get('dataset', '?')}/{row.get('condition', '?')})"


def check_rate_pair(path: Path, row: dict, what: str) -> None:
    """Refuse a row whose training and evaluation rates are not positive finite numbers."""
    if not all(is_number(row[k]) and 0 < row[k] < math.inf for k in OPERATOR_KEYS[1:]):
        raise CheckError(
            f"{path}: {what}'s training and evaluation rates must be positive finite numbers, "
            f"not {row['train_tflops']!r} and {row['eval_tflops']!r} TFLOP/s"
        )


def last_line(text) -> str | None:
    """A traceback's last line: the error itself."""
    return text.strip().splitlines()[-1] if isinstance(text, str) and text.strip() else None


def check_rates(
    check: dict, source: str = "the device check", study: StudyCost | None = None
) -> Rates:
    """The rates of the GPU the check ran on: the training and evaluation FLOP/s of each of the
    study's networks that the check timed (``networks``: the heaviest of the predicted study,
    at their own shapes, widths and batches); a network it did not time at those of the
    check's network of its operator (a network of another operator at the median over the
    check's operators); per step, the engine loop's time beyond the bare
    step's (which the training rate already holds); per job, the measured start-up (imports,
    CUDA context) and ``CPU_JOB_EXTRA_SECONDS``; one job at a time (``resources: gpu=1``).
    With ``study``, the rates' description says how many of its networks the check timed."""
    rows = check["operators"]
    per_operator = {
        row["operator"]: (row["train_tflops"] * 1e12, row["eval_tflops"] * 1e12) for row in rows
    }
    per_network = {
        row["network"]: (row["train_tflops"] * 1e12, row["eval_tflops"] * 1e12)
        for row in check["networks"]
    }
    train = statistics.median(rates[0] for rates in per_operator.values())
    evaluate = statistics.median(rates[1] for rates in per_operator.values())
    loop = check["engine_loop"]
    step_seconds = max(0.0, loop["step_seconds"] - loop["bare_step_seconds"])
    start_up = check["job_start_seconds"]
    name = short_name(check.get("device_name", "GPU"))
    return Rates(
        name=f"{name} measured",
        train=train,
        evaluate=evaluate,
        step_seconds=step_seconds,
        job_seconds=start_up + CPU_JOB_EXTRA_SECONDS,
        parallel=1,
        source=(
            f"measured by {source} on {check.get('device_name', 'a GPU')} (torch "
            f"{check.get('torch', '?')}): {timed_networks(per_network, study)}; each of its "
            f"{len(per_operator)} operators at its own rates for the other networks (training "
            f"{training_range(per_operator)}; other operators at the medians shown); per "
            f"step, the engine loop's time beyond the bare step's ({step_seconds * 1e3:.1f} "
            f"ms); per job, a new process's start-up on the GPU measured ({start_up:.1f} s) + "
            f"{CPU_JOB_EXTRA_SECONDS:.0f} s assumed; jobs run one at a time"
        ),
        per_network=per_network,
        per_operator=per_operator,
    )


def timed_networks(per_network: dict, study: StudyCost | None) -> str:
    """The networks the check timed and, with ``study``, how many of them (and how much of its
    training) are that study's, in words."""
    if not per_network:
        return "no networks timed"
    count = len(per_network)
    timed = f"{count} network{'s' * (count > 1)} timed (training {training_range(per_network)})"
    if study is None:
        return f"{timed}, each at its own measured rates"
    flops = training_by_network(study)
    ours = [key for key in per_network if key in flops]
    if not ours:
        return f"{timed}, none of them this study's"
    total, share = sum(flops.values()), sum(flops[key] for key in ours)
    return (
        f"{timed}, {len(ours)} of this study's {len(flops)} networks among them "
        f"({share / max(total, 1.0):.0%} of its training FLOPs) at their own measured rates"
    )


def training_range(rates: dict) -> str:
    """'from 2 TFLOP/s to 9 TFLOP/s' over the training rates of ``rates``' values; 'at 2
    TFLOP/s' where they are all the same."""
    low, high = (si(f(pair[0] for pair in rates.values())) for f in (min, max))
    return f"at {low}FLOP/s" if low == high else f"from {low}FLOP/s to {high}FLOP/s"
