"""The paper's table of what each training condition ran: its datasets, operators, network,
training budget and evaluation, from the settings as each condition resolved them
(``plan.condition_settings``) and the training images its runs recorded."""

from __future__ import annotations

import pandas as pd

from poolstudy.paper.format import latex_escape, op_tex


def plural(count: int, noun: str, many: str | None = None) -> str:
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"


def training_images(models: pd.DataFrame, condition: str) -> int | None:
    """The number of training images every run of ``condition`` recorded, or None when its
    runs differ (several datasets) or recorded none."""
    counts = set(models.loc[models["condition"] == condition, "n_train"].dropna())
    return int(counts.pop()) if len(counts) == 1 else None


def training_text(entry: dict, images: int | None) -> str:
    """``4,000 steps of 64 (1 pass over 256,000 images), peak rate 0.5``, with random
    translations where the condition trains with them; ``images`` None: the passes alone."""
    batch, epochs = entry["batch_size"], entry["epochs"]
    if entry.get("steps"):
        text = f"{plural(int(entry['steps']), 'step')} of {batch}"
        if images is not None:
            text += f" (of {images:,} images)"
    elif images is not None:
        steps = -(-images // batch) * epochs
        text = (
            f"{plural(steps, 'step')} of {batch} ({plural(epochs, 'pass', 'passes')} over "
            f"{images:,} images)"
        )
    else:
        text = f"{plural(epochs, 'pass', 'passes')} in batches of {batch}"
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
        lines.append(
            f"\\texttt{{{latex_escape(name)}}} & {latex_escape(', '.join(entry['datasets']))} & "
            f"{', '.join(op_tex(op) for op in entry['operators'])} & {network} & "
            f"{training_text(entry, training_images(models, name))} & {evaluation_text(entry)} \\\\"
        )
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
