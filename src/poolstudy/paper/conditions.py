"""The paper's table of what each training condition ran: its datasets, operators, network,
training budget and evaluation, from the settings as each condition resolved them
(``plan.condition_settings``) and the training images and steps its runs recorded."""

from __future__ import annotations

import pandas as pd

from poolstudy.paper.format import latex_escape, op_tex, plural


def recorded(models: pd.DataFrame, condition: str, column: str) -> int | None:
    """The value of ``column`` (training images, steps) that every run of ``condition``
    recorded, or None when its runs differ (several datasets) or recorded none."""
    values = set(models.loc[models["condition"] == condition, column].dropna())
    return int(values.pop()) if len(values) == 1 else None


def training_text(entry: dict, images: int | None, steps: int | None) -> str:
    """``4,000 steps of 64 (1 pass over 256,000 images), peak rate 0.5``, with random
    translations where the condition trains with them. ``images`` and ``steps`` are what the
    condition's runs recorded (None where they differ: the configured steps, else the passes
    alone)."""
    batch, epochs = entry["batch_size"], entry["epochs"]
    steps = steps if steps is not None else entry.get("steps")
    if steps is None:
        text = f"{plural(epochs, 'pass', 'passes')} in batches of {batch}"
    else:
        text = f"{plural(int(steps), 'step')} of {batch}"
        if images is not None and entry.get("steps"):
            text += f" (of {images:,} images)"
        elif images is not None:
            text += f" ({plural(epochs, 'pass', 'passes')} over {images:,} images)"
    text += f", peak rate {entry['lr']:g}"
    if entry.get("augment_shift"):
        text += f", shifted up to {entry['augment_shift']}\\,px"
    return text


def evaluation_text(entry: dict) -> str:
    """``circular; shifts up to 1 px, views up to 1 px; 5,000 test images``, or ``clean
    images only`` for a condition without shift protocols."""
    protocols = entry.get("protocols") or []
    if not protocols:
        return "clean images only"
    text = (
        f"{latex_escape(', '.join(protocols))}; shifts up to {entry['max_shift']}\\,px, views "
        f"up to {entry['consistency_shift']}\\,px"
    )
    if entry.get("shift_images"):
        text += f"; at most {entry['shift_images']:,} test images"
    return text


def conditions_table(conditions: list[dict], models: pd.DataFrame) -> str:
    """One row per condition (``conditions``: dictionaries of the resolved settings, in the
    study's order): datasets, operators, head and widths, training, evaluation."""
    ragged = ">{\\raggedright\\arraybackslash}p"
    widths = ("1.3cm", "2.6cm", "1.4cm", "3.3cm", "3.3cm")
    lines = [
        r"\setlength{\tabcolsep}{4pt}",
        r"\begin{tabular}{l" + "".join(f"{ragged}{{{w}}}" for w in widths) + "}",
        r"\toprule",
        r"condition & datasets & operators & network & training & evaluation \\",
        r"\midrule",
    ]
    for entry in conditions:
        name = entry["name"]
        network = f"{latex_escape(entry['head'])}, {'-'.join(str(w) for w in entry['widths'])}"
        if entry.get("placement_canvas"):
            network += f", {entry['placement_canvas']}\\,px canvas"
        training = training_text(
            entry, recorded(models, name, "n_train"), recorded(models, name, "steps")
        )
        lines.append(
            f"\\texttt{{{latex_escape(name)}}} & {latex_escape(', '.join(entry['datasets']))} & "
            f"{', '.join(op_tex(op) for op in entry['operators'])} & {network} & "
            f"{training} & {evaluation_text(entry)} \\\\"
        )
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
