"""The report the ``estimate`` command prints: jobs, FLOPs and hours per block, and where
each rate comes from."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from poolstudy.estimate.cost import BLOCKS, CellCost, StudyCost
from poolstudy.estimate.rates import Rates, block_seconds, si, wall_seconds


@dataclass
class Report:
    """Everything the command prints, as plain data (``--json`` prints it as it is)."""

    config: str
    jobs: int
    cells: int
    runs: int
    blocks: dict[str, dict]
    total: dict
    machines: dict[str, dict] = field(default_factory=dict)


def block_row(costs: list[CellCost], machines: list[Rates]) -> dict:
    row = {
        "cells": len(costs),
        "runs": sum(cost.runs for cost in costs),
        "jobs": 2 * len(costs),
        "train_flops": sum(cost.train_flops for cost in costs),
        "eval_flops": sum(cost.eval_flops for cost in costs),
    }
    for rates in machines:
        row[f"{rates.name}_hours"] = block_seconds(costs, rates) / rates.parallel / 3600
    return row


def build_report(config_path: str, study: StudyCost, machines: list[Rates]) -> Report:
    blocks = {name: block_row(study.block(name), machines) for name in BLOCKS}
    other = {"cells": 0, "runs": 0, "jobs": study.other_jobs, "train_flops": 0, "eval_flops": 0}
    for rates in machines:
        other[f"{rates.name}_hours"] = study.other_jobs * rates.job_seconds / rates.parallel / 3600
    blocks["other"] = other
    total = {key: sum(row[key] for row in blocks.values()) for key in other}
    for rates in machines:
        total[f"{rates.name}_hours"] = wall_seconds(study, rates) / 3600
    return Report(
        config=config_path,
        jobs=study.jobs,
        cells=len(study.cells),
        runs=sum(cost.runs for cost in study.cells),
        blocks=blocks,
        total=total,
        machines={rates.name: asdict(rates) for rates in machines},
    )


def report_json(report: Report) -> str:
    return json.dumps(asdict(report), indent=2)


def format_report(report: Report) -> str:
    """The report as a table per block with totals, and where each rate comes from."""
    names = list(report.machines)
    header = ["block", "cells", "runs", "jobs", "train FLOP", "eval FLOP"]
    header += [f"{name} h" for name in names]
    lines = [
        f"{report.config}: {report.jobs} Snakemake jobs ({report.cells} cells x train + "
        f"evaluate, {report.blocks['other']['jobs']} prepare and single jobs), "
        f"{report.runs} runs",
        "",
    ]
    rows = [header]
    for name, row in [*report.blocks.items(), ("total", report.total)]:
        rows.append(
            [name, str(row["cells"]), str(row["runs"]), str(row["jobs"])]
            + [si(row["train_flops"]) + "FLOP", si(row["eval_flops"]) + "FLOP"]
            + [f"{row[f'{n}_hours']:.2f}" for n in names]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        cells_text = [row[0].ljust(widths[0])]
        cells_text += [text.rjust(width) for text, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells_text))
    lines.append("")
    for name, rates in report.machines.items():
        lines.append(
            f"{name}: training {si(rates['train'])}FLOP/s, evaluation {si(rates['evaluate'])}"
            f"FLOP/s per job, {rates['job_seconds']:.1f} s per job"
            + (f", {rates['step_seconds'] * 1e3:.1f} ms per step" if rates["step_seconds"] else "")
            + f"; {rates['source']}."
        )
    lines.append(
        "Block hours are job-seconds shared by the jobs running at once; the total is never less "
        "than the longest chain (prepare, the longest cell's train and evaluate, the single jobs)."
    )
    return "\n".join(lines)
