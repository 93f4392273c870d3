"""Figures are drawn from the tidy tables alone."""

from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib import pyplot as plt
from matplotlib.textpath import TextPath
from table_rows import as_written

from poolstudy import figures
from poolstudy.analyze import empty_sweep_tables, placement_curves
from poolstudy.figures import FIGURES, answer, make_figures, regime, shift, style
from poolstudy.figures.answer import accuracy_flops, contrast_labels, forest
from poolstudy.figures.style import PALETTE, line_groups, operator_colors, operator_styles
from poolstudy.pooling import OPERATORS
from poolstudy.stats import shift_curves, summarize

NAN = math.nan


def observations() -> pd.DataFrame:
    rows = []
    for condition in ("gap", "flatten"):
        for operator in ("none", "max"):
            for seed in (0, 1):
                base = 90.0 if operator == "max" else 70.0
                for metric in ("accuracy_train", "accuracy_test"):
                    rows.append((condition, operator, seed, metric, "", NAN, NAN, base + seed))
                for protocol, steps in (("circular", (0, 1, 2)), ("subpixel", (0, 0.5, 1))):
                    for dx in steps:
                        for dy in steps:
                            value = base - 3 * (dx + dy) + seed
                            rows.append(
                                (
                                    condition,
                                    operator,
                                    seed,
                                    "accuracy_shifted",
                                    protocol,
                                    dx,
                                    dy,
                                    value,
                                )
                            )
    for operator in ("none", "max"):
        for seed in (0, 1):
            for dx in (-4, -2, 0, 2, 4):
                for dy in (-4, 0, 4):
                    value = 95.0 if dx <= 0 else (60.0 if operator == "none" else 85.0)
                    rows.append(
                        ("placed", operator, seed, "accuracy_shifted", "placement", dx, dy, value)
                    )
    frame = pd.DataFrame(
        rows,
        columns=["condition", "operator", "seed", "metric", "protocol", "dx", "dy", "value"],
    )
    frame.insert(0, "dataset", "digits")
    frame.insert(0, "experiment", "e")
    return frame


def models() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": "digits",
            "condition": ["gap", "flatten", "placed"],
            "placement_region": ["", "", "left"],
        }
    )


def write_tables(obs: pd.DataFrame, tables) -> None:
    tables.mkdir()
    summarize(obs).to_csv(tables / "summary.csv", index=False)
    shift_curves(obs).to_csv(tables / "shift_curves.csv", index=False)
    empty_sweep_tables()[1].to_csv(tables / "sweep.csv", index=False)
    placement_curves(obs, models()).to_csv(tables / "placement.csv", index=False)
    curves = pd.DataFrame(
        {
            "experiment": "x",
            "dataset": "digits",
            "condition": "gap",
            "operator": ["max"] * 3 + ["none"] * 3,
            "seed": 0,
            "step": [10, 20, 30] * 2,
            "train_loss": 1.0,
            "train_accuracy": [50, 80, 90, 40, 60, 70],
            "val_accuracy": [48, 78, 88, 39, 58, 69],
        }
    )
    curves.to_csv(tables / "learning_curves.csv", index=False)
    regime = pd.DataFrame(
        {"dataset": ["digits"] * 2, "condition": "gap", "operator": ["max", "none"]}
    )
    as_written("regime", regime).to_csv(tables / "regime.csv", index=False)
    as_written("contrasts", contrasts_frame()).to_csv(tables / "contrasts.csv", index=False)
    as_written("models", models_table()).to_csv(tables / "models.csv", index=False)


def contrasts_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": ["max - none", "flatten:max - gap:max"],
            "dataset": "digits",
            "metric": "accuracy_test",
            "protocol": "",
            "first_condition": ["gap", "flatten"],
            "first_operator": ["max", "max"],
            "second_condition": ["gap", "gap"],
            "second_operator": ["none", "max"],
            "n": 2,
            "mean": [20.0, 0.2],
            "ci_low": [15.0, -0.4],
            "ci_high": [25.0, 0.8],
            "margin": 1.0,
            "p_difference": [0.01, 0.5],
            "p_equivalence": [0.9, 0.01],
            "p_difference_holm": [0.02, 0.5],
            "p_equivalence_holm": [0.9, 0.02],
            "verdict": ["difference", "equivalent"],
        }
    )


def models_table() -> pd.DataFrame:
    rows = []
    for condition, scale in (("gap", 1.0), ("wide", 4.0), ("flatten", 1.1), ("placed", 1.0)):
        for operator, flops in (("none", 4e6), ("max", 1e6)):
            for seed in (0, 1):
                rows.append(
                    {
                        "dataset": "digits",
                        "condition": condition,
                        "operator": operator,
                        "seed": seed,
                        "flops": flops * scale,
                        "device": "cpu",
                        "placement_canvas": 20.0 if condition == "placed" else np.nan,
                    }
                )
    return pd.DataFrame(rows)


def test_placement_curves_average_over_vertical_positions_per_model():
    curves = placement_curves(observations(), models())
    assert set(curves["condition"]) == {"placed"}
    assert set(curves["region"]) == {"left"}
    right = curves[(curves["operator"] == "none") & (curves["position"] == 4)].iloc[0]
    assert right["mean"] == 60.0 and right["n"] == 2
    assert sorted(set(curves["position"])) == [-4, -2, 0, 2, 4]


def test_every_figure_is_written_from_the_tables(tmp_path):
    obs = observations()
    tables = tmp_path / "tables"
    write_tables(obs, tables)
    written = make_figures(tables, tmp_path / "figures")
    assert [p.rsplit("/", 1)[-1] for p in written] == [f"{name}.pdf" for name in FIGURES]
    for path in written:
        data = open(path, "rb").read()
        assert data[:5] == b"%PDF-" and len(data) > 2000


def test_figures_are_byte_identical_for_the_same_tables(tmp_path):
    obs = observations()
    tables = tmp_path / "tables"
    write_tables(obs, tables)
    first = [open(p, "rb").read() for p in make_figures(tables, tmp_path / "a")]
    second = [open(p, "rb").read() for p in make_figures(tables, tmp_path / "b")]
    assert first == second


def test_every_registered_operator_gets_its_own_style():
    styles = operator_styles(list(OPERATORS))
    assert len({(s["color"], s["ls"]) for s in styles.values()}) == len(OPERATORS)


def test_up_to_eight_operators_have_distinct_colours_from_the_palette():
    names = list(OPERATORS)[: len(PALETTE)]
    colours = operator_colors(names)
    assert len(set(colours.values())) == len(names)
    assert set(colours.values()) <= set(PALETTE)


@pytest.mark.parametrize("count", range(1, len(OPERATORS) + 1))
def test_line_groups_keep_at_most_five_lines_per_panel_and_every_operator_once(count):
    names = list(OPERATORS)[:count]
    groups = line_groups(names)
    assert all(1 <= len(group) <= 5 for group in groups)
    assert sorted(sum(groups, [])) == sorted(names)
    assert len(groups) == 1 if count <= 5 else len(groups) <= 4


def test_line_groups_keep_families_together_where_they_fit():
    groups = line_groups(["none", "max", "stride", "blur", "aps", "none_rf"])
    assert ["none", "none_rf"] in [[o for o in g if o.startswith("none")] for g in groups]
    assert len(groups) == 2 and all(len(g) == 3 for g in groups)


def test_contrast_labels_name_conditions_only_where_they_differ():
    assert contrast_labels(contrasts_frame()) == [
        "max − none",
        "max (flatten) − max (gap)",
    ]


def capture(monkeypatch):
    """The figure a drawing function saves, kept open for inspection."""
    saved = {}
    for module in (answer, regime, shift, style):
        monkeypatch.setattr(module, "save_figure", lambda fig, path: saved.setdefault("fig", fig))
    return saved


def test_forest_draws_every_contrast_with_its_interval_and_the_margin(monkeypatch):
    saved = capture(monkeypatch)
    forest(contrasts_frame(), "unused.pdf", 0.95)
    ax = saved["fig"].axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["max − none", "max (flatten) − max (gap)"]  # top to bottom
    assert ax.get_xlabel() == "difference in clean test accuracy (points): first − second"
    segments = [
        [float(v) for v in line.get_xdata()]
        for line in ax.get_lines()
        if len(line.get_xdata()) == 2 and line.get_ydata()[0] == line.get_ydata()[1]
    ]
    assert [15.0, 25.0] in segments and [-0.4, 0.8] in segments
    shaded = ax.patches[0].get_extents().transformed(ax.transData.inverted())
    assert shaded.x0 == pytest.approx(-1.0) and shaded.x1 == pytest.approx(1.0)
    plt.close(saved["fig"])


@pytest.mark.parametrize("confidence", [0.95, 0.8])
def test_forest_draws_the_interval_each_equivalence_rests_on_as_a_thick_bar(
    monkeypatch, confidence
):
    from poolstudy.equivalence import equivalence_interval

    saved = capture(monkeypatch)
    frame = contrasts_frame().assign(n=[2, 5])
    frame.loc[2] = {**frame.iloc[0].to_dict(), "n": 1, "ci_low": np.nan, "ci_high": np.nan}
    forest(frame, "unused.pdf", confidence)
    ax = saved["fig"].axes[0]
    thick = [
        [float(v) for v in line.get_xdata()]
        for line in ax.get_lines()
        if len(line.get_xdata()) == 2 and line.get_linewidth() > 2
    ]
    expected = [
        list(equivalence_interval(row.mean, row.ci_low, row.ci_high, row.n, confidence))
        for row in frame.iloc[:2].itertuples()
    ]
    np.testing.assert_allclose(thick, expected, rtol=1e-12)
    for (low, high), row in zip(thick, frame.itertuples(), strict=False):
        assert row.ci_low < low < row.mean < high < row.ci_high  # inside the thin line
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    level = {0.95: "90", 0.8: "60"}[confidence]
    assert legend == ["margin ±1", f"{100 * confidence:g} % CI", f"{level} % CI"]
    plt.close(saved["fig"])


def test_make_figures_draws_the_forest_at_the_configs_confidence(monkeypatch, tmp_path):
    import poolstudy.figures as figures

    seen = []
    drawn = figures.FIGURES["forest"].draw
    monkeypatch.setattr(
        "poolstudy.figures.forest", lambda t, path, confidence: seen.append(confidence)
    )
    drawn({"contrasts": contrasts_frame()}, {"confidence": 0.9}, "unused.pdf")
    drawn({"contrasts": contrasts_frame()}, {}, "unused.pdf")
    assert seen == [0.9, figures.CONFIDENCE]
    from poolstudy.config import section_defaults

    assert figures.CONFIDENCE == section_defaults("stats")["confidence"]


def test_the_forest_caption_describes_the_markers_the_forest_draws():
    """The paper's caption names each verdict's marker; the figure must draw those markers."""
    from poolstudy.figures.answer import VERDICT_MARKERS
    from poolstudy.paper.contrasts import contrasts_tex

    table = pd.DataFrame(
        [
            {
                "dataset": "digits",
                "metric": "accuracy_test",
                "margin": 1.0,
                "verdict": "difference",
                "n": 3,
            }
        ]
    )
    caption = contrasts_tex(table, "95")
    words = {
        "filled circle": lambda style: style["marker"] == "o" and style["mfc"] == "black",
        "open diamond": lambda style: style["marker"] == "D" and style["mfc"] == "white",
        "open circle": lambda style: style["marker"] == "o" and style["mfc"] == "white",
    }
    for word, drawn in words.items():
        verdict = caption.split(f"{word}: ")[1].split(";")[0].split(")")[0]
        assert drawn(VERDICT_MARKERS[verdict]), (word, verdict)


def test_accuracy_flops_joins_compute_conditions_and_leaves_out_placement(monkeypatch):
    summary = pd.DataFrame(
        [
            ("digits", c, o, "accuracy_test", "", np.nan, m, m - 1, m + 1)
            for c, base in (("gap", 80.0), ("wide", 90.0), ("flatten", 85.0), ("placed", 50.0))
            for o, m in (("none", base), ("max", base + 5))
        ],
        columns=[
            "dataset",
            "condition",
            "operator",
            "metric",
            "protocol",
            "dx",
            "mean",
            "ci_low",
            "ci_high",
        ],
    )
    saved = capture(monkeypatch)
    accuracy_flops(summary, models_table(), "unused.pdf", "digits", ["gap", "wide"])
    ax = saved["fig"].axes[0]
    assert ax.get_xscale() == "log"
    joined = [
        line for line in ax.get_lines() if len(line.get_xdata()) == 2 and line.get_ls() == "-"
    ]
    xs = sorted(tuple(line.get_xdata()) for line in joined)
    assert (1e6, 4e6) in xs and (4e6, 16e6) in xs  # max and none, gap -> wide, by FLOPs
    points = {(round(x), round(y)) for line in ax.get_lines() for x, y in line.get_xydata()}
    assert all(y != 50 and y != 55 for _, y in points)  # the placement condition is left out
    assert (round(1.1e6), 90) in points  # flatten is a point of its own
    plt.close(saved["fig"])


def test_sweep_gap_line_is_drawn_at_the_configured_threshold(monkeypatch):
    sweep = pd.DataFrame(
        [
            ("digits", "s", n, 0, o, "gap", m, m - 50, m + 50)
            for n, m in ((64, 10.0), (256, 2.0))
            for o in ("none", "max")
        ],
        columns=[
            "dataset",
            "condition",
            "n_train",
            "augment_shift",
            "operator",
            "metric",
            "mean",
            "ci_low",
            "ci_high",
        ],
    )
    saved = capture(monkeypatch)
    regime.sweep_curves(sweep, "gap", "gap", "unused.pdf", gap_threshold=2.5)
    ax = saved["fig"].axes[0]
    horizontal = [line.get_ydata()[0] for line in ax.get_lines() if line.get_ls() == "--"]
    assert horizontal == [2.5]
    low, high = ax.get_ylim()
    assert low >= -100 and high <= 100.5
    plt.close(saved["fig"])


def test_shift_figure_has_no_empty_panels_integer_ticks_and_clipped_bands(monkeypatch, tmp_path):
    obs = observations()
    tables = tmp_path / "tables"
    write_tables(obs, tables)
    curves = pd.read_csv(tables / "shift_curves.csv", keep_default_na=False, na_values=[""])
    curves.loc[curves["protocol"] == "circular", "ci_high"] += 200  # a band past 100 %
    keep = ~((curves["condition"] == "flatten") & (curves["protocol"] == "subpixel"))
    saved = capture(monkeypatch)
    shift.accuracy_vs_shift(curves[keep], "unused.pdf")
    fig = saved["fig"]
    assert len(fig.legends) == 1
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["circular shift", "subpixel shift", "circular shift"]
    for ax in fig.axes:
        assert ax.get_ylim()[1] <= 100.5
        for band in ax.collections:
            assert band.get_paths()[0].vertices[:, 1].max() <= 100.0
        if ax.get_title().startswith("circular"):
            ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
            assert all(float(t).is_integer() for t in ticks)
    plt.close(fig)


@pytest.mark.parametrize("count", [1, 6, 7])
def test_sensitivity_maps_draw_one_panel_per_operator_and_one_colour_bar(monkeypatch, count):
    """Seven operators fill a second row of six panels by one: the five left empty go."""
    rows = [
        ("e", "digits", "gap", operator, "accuracy_shifted", "circular", dx, dy, 90.0 - dx)
        for operator in list(OPERATORS)[:count]
        for dx in (-1, 0, 1)
        for dy in (-1, 0, 1)
    ]
    summary = pd.DataFrame(
        rows,
        columns=[
            "experiment",
            "dataset",
            "condition",
            "operator",
            "metric",
            "protocol",
            "dx",
            "dy",
            "mean",
        ],
    )
    saved = capture(monkeypatch)
    shift.sensitivity_maps(summary, "unused.pdf")
    fig = saved["fig"]
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert sorted(ax.get_title() for ax in panels) == sorted(list(OPERATORS)[:count])
    assert len(fig.axes) == count + 1  # the panels and the colour bar
    plt.close(fig)


def test_sensitivity_maps_draw_the_primary_cell_under_a_whole_pixel_protocol(monkeypatch):
    """A sub-pixel grid listed first (its corners are whole pixels too) is passed over, and
    the primary dataset and condition are drawn even when another pair comes first."""
    rows = []
    for dataset, condition, base in (("digits", "gap", 90.0), ("glyphs", "flatten", 70.0)):
        grids = {"subpixel": (0, 0.5, 1), "circular": (-1, 0, 1, 2)}
        for protocol, grid in grids.items():
            for operator in ("none", "max"):
                for dx in grid:
                    for dy in grid:
                        mean = base - abs(dx) - (10 if protocol == "subpixel" else 0)
                        rows.append((dataset, condition, operator, protocol, dx, dy, mean))
    columns = ["dataset", "condition", "operator", "protocol", "dx", "dy", "mean"]
    summary = pd.DataFrame(rows, columns=columns).assign(metric="accuracy_shifted")
    saved = capture(monkeypatch)
    shift.sensitivity_maps(summary, "unused.pdf", "glyphs", "flatten")
    fig = saved["fig"]
    assert fig._suptitle.get_text() == "glyphs, flatten, circular shift"
    image = [ax for ax in fig.axes if ax.get_title() == "max"][0].images[0]
    assert image.get_array().shape == (4, 4) and image.get_array().max() == 70.0
    plt.close(fig)
    # a pair that was not evaluated under shifts: the first that was
    saved.clear()
    shift.sensitivity_maps(summary, "unused.pdf", "mnist", "gap")
    assert saved["fig"]._suptitle.get_text() == "digits, gap, circular shift"
    plt.close(saved["fig"])
    # only sub-pixel shifts: nothing whole to map
    saved.clear()
    shift.sensitivity_maps(summary[summary["protocol"] == "subpixel"], "unused.pdf")
    assert saved["fig"].axes[0].texts[0].get_text() == (
        "no evaluation under whole-pixel shifts in this run"
    )


def test_every_figures_report_caption_names_the_function_that_draws_it():
    report = Path(__file__).resolve().parents[1] / "workflow" / "report"
    for name, figure in FIGURES.items():
        caption = (report / f"{name}.rst").read_text()
        assert f"Drawn by rule ``figures`` with ``{figure.qualified_name}``." in caption, name


def test_a_tables_missing_protocols_read_back_as_empty_text(tmp_path):
    summary = pd.DataFrame({"protocol": ["circular", None], "mean": [1.0, 2.0]})
    as_written("summary", summary).to_csv(tmp_path / "summary.csv", index=False)
    frame = figures.read_table(tmp_path, "summary")
    assert list(frame["protocol"]) == ["circular", ""] and list(frame["mean"]) == [1.0, 2.0]
    as_written("models", pd.DataFrame({"seed": [1]})).to_csv(tmp_path / "models.csv", index=False)
    models = figures.read_table(tmp_path, "models")
    assert "protocol" not in models and list(models["seed"]) == [1]


def test_every_figure_gets_the_tables_the_quoted_record_and_one_style_per_operator(
    monkeypatch, tmp_path
):
    frames = {name: pd.DataFrame() for name in figures.FIGURE_TABLES}
    frames["models"] = pd.DataFrame({"operator": ["stride"]})
    frames["summary"] = pd.DataFrame({"operator": ["max", "none"]})
    frames["sweep"] = pd.DataFrame({"operator": ["avg"]})
    read, asked, drawn = [], [], []

    def read_table(folder, name):
        read.append((folder, name))
        return frames[name]

    regime = pd.DataFrame({"operator": ["maxdil"]})

    def recorded_tables(folders, experiment):
        asked.append((folders, experiment))
        return {"recorded_learning_curves": pd.DataFrame(), "recorded_regime": regime}

    monkeypatch.setattr(figures, "read_table", read_table)
    monkeypatch.setattr(figures, "recorded_tables", recorded_tables)
    draw = figures.Figure(forest, lambda t, s, path: drawn.append((t, s, path)))
    monkeypatch.setattr(figures, "FIGURES", {"one": draw, "two": draw})
    settings = {"experiment": "default", "dataset": "glyphs"}
    written = make_figures("tables", tmp_path, settings, ["rec/convergence"])
    assert written == [str(tmp_path / "one.pdf"), str(tmp_path / "two.pdf")]
    assert read == [("tables", name) for name in figures.FIGURE_TABLES]
    assert asked == [(["rec/convergence"], "default")]
    assert [path for _, _, path in drawn] == written
    tables, given, _ = drawn[0]
    assert tables["recorded_regime"] is regime and tables["sweep"] is frames["sweep"]
    # every operator of the run and of the record, styled in registry order
    assert given == {
        **settings,
        "styles": style.operator_styles(["none", "max", "avg", "stride", "maxdil"]),
    }
    assert list(given["styles"]) == ["none", "max", "avg", "stride", "maxdil"]
    frames["models"] = pd.DataFrame()  # a run without trained networks: no operator column
    make_figures("tables", tmp_path, settings, ["rec/convergence"])
    assert list(drawn[-1][1]["styles"]) == ["none", "max", "avg", "maxdil"]


def test_a_saved_figure_is_a_pdf_without_dates_whatever_its_name_and_is_closed(tmp_path):
    fig, _ = plt.subplots()
    other = plt.figure()  # the current figure is another one
    style.save_figure(fig, tmp_path / "figure")
    data = (tmp_path / "figure").read_bytes()
    assert data[:5] == b"%PDF-" and b"/Producer (poolstudy)" in data
    assert b"CreationDate" not in data and b"ModDate" not in data
    # cropped to what is drawn (bbox "tight"): smaller than the 6.4 x 4.8 in of the figure
    width, height = map(float, re.search(rb"/MediaBox \[ *0 0 ([\d.]+) ([\d.]+)", data).groups())
    assert width < 6.4 * 72 and height < 4.8 * 72
    assert not plt.fignum_exists(fig.number) and plt.fignum_exists(other.number)
    plt.close(other)


def test_a_placeholder_says_why_in_the_middle_of_an_empty_figure(monkeypatch):
    saved = capture(monkeypatch)
    style.placeholder("unused.pdf", "no data-size sweep configured")
    ax = saved["fig"].axes[0]
    (text,) = ax.texts
    assert text.get_text() == "no data-size sweep configured"
    assert text.get_position() == (0.5, 0.5) and ax.get_xlim() == ax.get_ylim() == (0, 1)
    assert (text.get_ha(), text.get_va()) == ("center", "center")
    assert not ax.axison


def test_the_y_axis_is_clipped_to_the_metrics_range_and_left_alone_inside_it():
    fig, ax = plt.subplots()
    ax.set_ylim(-20, 130)
    style.clip_axis(ax, (0.0, 100.0))
    assert ax.get_ylim() == (-0.5, 100.5)
    ax.set_ylim(10, 50)
    style.clip_axis(ax, (0.0, 100.0))
    assert ax.get_ylim() == (10, 50)
    plt.close(fig)


def test_small_helpers_of_the_figures():
    assert style.family_of("an_operator_not_in_any_family") == "other"
    assert style.family_of("blur") == "smoothing"
    assert style.line_groups([]) == []
    assert style.is_integer_axis([0, 1, 2.0]) and not style.is_integer_axis([])
    assert not style.is_integer_axis([0, 0.5])


def test_a_legend_shows_each_operator_as_its_lines_are_drawn():
    styles = style.operator_styles(list(OPERATORS))  # the ninth on: another line style
    handles = style.legend_handles(styles)
    assert [h.get_label() for h in handles] == list(OPERATORS)
    assert {h.get_linestyle() for h in handles} == {"-", "--"}
    for handle, (name, s) in zip(handles, styles.items(), strict=True):
        assert (handle.get_color(), handle.get_linestyle(), handle.get_marker()) == (
            s["color"],
            s["ls"],
            s["marker"],
        ), name


def test_a_line_with_its_band_is_sorted_styled_and_clipped_to_the_metrics_range():
    fig, ax = plt.subplots()
    line = pd.DataFrame(
        {"shift": [2, 0, 1], "mean": [90.0, 99.0, 95.0], "ci_low": [80.0, 97.0, 94.0]}
    ).assign(ci_high=[100.0, 103.0, 96.0])
    s = {"color": PALETTE[1], "ls": "--", "marker": "s"}
    style.plot_with_band(ax, line, "shift", s, label="max")
    (drawn,) = ax.get_lines()
    assert list(drawn.get_xdata()) == [0, 1, 2] and list(drawn.get_ydata()) == [99.0, 95.0, 90.0]
    assert (drawn.get_color(), drawn.get_linestyle(), drawn.get_marker()) == (PALETTE[1], "--", "s")
    assert drawn.get_label() == "max"
    (band,) = ax.collections
    corners = band.get_paths()[0].vertices
    assert corners[:, 1].min() == 80.0 and corners[:, 1].max() == 100.0  # 103 clipped
    assert tuple(band.get_facecolor()[0][:3]) == pytest.approx(matplotlib.colors.to_rgb(PALETTE[1]))
    plt.close(fig)
    fig, ax = plt.subplots()
    style.plot_with_band(ax, line.assign(ci_low=NAN, ci_high=NAN), "shift", s)
    assert not ax.collections  # one seed: no interval, no band
    plt.close(fig)


@pytest.mark.parametrize("count, size", [(1, (2.0, 1.5)), (3, (6.0, 1.5)), (4, (6.3, 1.5))])
def test_a_row_of_panels_shares_its_y_axis_within_the_text_width(count, size):
    fig, axes = style.row_of_panels(count, 2.0, 1.5)
    assert axes.shape == (1, count)
    assert tuple(fig.get_size_inches()) == pytest.approx(size)
    assert all(axes[0][0].get_shared_y_axes().joined(axes[0][0], ax) for ax in axes[0][1:])
    assert type(fig.get_layout_engine()).__name__ == "ConstrainedLayoutEngine"
    plt.close(fig)


def test_fitted_titles_keep_proportions_where_titles_fit_and_widen_only_the_narrow_panels():
    short = style.text_width("a, b", 6.5) + style.TITLE_GAP
    assert style.fitted_titles(["a, b", "c, d"], [1, 3], 6.5, 4 * short) == (
        ["a, b", "c, d"],
        [short, 3 * short],
    )
    long_title = "glyphs, primary_flatten_half, seeds"
    titles, widths = style.fitted_titles(["a, b", long_title, "c, d"], [4, 1, 4], 6.5, 6.0)
    assert titles == ["a, b", "glyphs,\nprimary_flatten_half, seeds", "c, d"]  # first comma only
    need = style.text_width("primary_flatten_half, seeds", 6.5) + style.TITLE_GAP
    assert need > 6.0 / 9  # its share would not hold it
    assert widths == pytest.approx([(6.0 - need) / 2, need, (6.0 - need) / 2])
    # A title that fits its share stays on one line.
    assert style.fitted_titles([long_title], [1], 6.5, 6.0)[0] == [long_title]
    # Where no row could hold them, each panel is as wide as its title.
    titles, widths = style.fitted_titles(["a, b", long_title], [1, 1], 6.5, 0.5)
    assert widths == [style.text_width(t, 6.5) + style.TITLE_GAP for t in titles]
    assert (
        style.text_width("ab\nabcd", 7) == style.text_width("abcd", 7) > style.text_width("ab", 7)
    )
    assert style.text_width("", 7) == 0
    assert style.text_width("ab,\n", 7) == style.text_width("ab,", 7)
    # in inches: a path's extent in points, 72 to the inch
    path = TextPath((0, 0), "abcd", size=7)
    assert style.text_width("abcd", 7) == pytest.approx(path.get_extents().width / 72, rel=1e-9)


def test_a_title_that_fitted_its_share_is_broken_once_a_wider_neighbour_takes_its_room():
    fits, wide = "digits, medium_condition_x", "glyphs_long_dataset_name_without_comma_break"
    assert style.text_width(fits, 6.5) + style.TITLE_GAP < 1.8  # its first share
    titles, widths = style.fitted_titles([fits, wide], [1, 1], 6.5, 3.6)
    assert titles == ["digits,\nmedium_condition_x", wide]
    assert widths[1] == style.text_width(wide, 6.5) + style.TITLE_GAP
    assert widths[0] == pytest.approx(3.6 - widths[1])
    assert widths[0] >= style.text_width(titles[0], 6.5) + style.TITLE_GAP


def test_bar_panels_titles_stay_apart_and_bars_keep_one_width(monkeypatch):
    """As the default study draws it: two panels of one operator beside panels of five, with
    long condition names."""
    panels = [
        ("glyphs", "primary", ["max", "stride", "none_rf", "convpool", "maxdil"]),
        ("glyphs", "primary_half", ["max", "stride", "none_rf", "convpool", "maxdil"]),
        ("glyphs", "primary_flatten", ["max"]),
        ("glyphs", "primary_flatten_half", ["max"]),
        ("digits", "gap", ["none", "max", "stride", "none_rf"]),
    ]
    rows = [
        (dataset, condition, operator, metric, 80.0, 79.0, 81.0, NAN)
        for dataset, condition, operators in panels
        for operator in operators
        for metric in ("accuracy_train", "accuracy_test")
    ]
    summary = pd.DataFrame(
        rows,
        columns=["dataset", "condition", "operator", "metric", "mean", "ci_low", "ci_high", "dx"],
    )
    saved = capture(monkeypatch)
    regime.overfitting_gap(summary, "unused.pdf")
    fig = saved["fig"]
    renderer = fig.canvas.get_renderer()
    fig.draw(renderer)
    titles = [ax.title for ax in fig.axes]
    assert [t.get_text() for t in titles] == [
        "glyphs, primary",
        "glyphs, primary_half",
        "glyphs,\nprimary_flatten",
        "glyphs,\nprimary_flatten_half",
        "digits, gap",
    ]
    boxes = [t.get_window_extent(renderer) for t in titles]
    assert boxes[0].x0 >= 0 and boxes[-1].x1 <= fig.bbox.x1
    assert all(left.x1 < right.x0 for left, right in zip(boxes[:-1], boxes[1:], strict=True))
    bar_widths = {round(bar.get_window_extent(renderer).width, 3) for bar in fig.axes[2].patches}
    bar_widths |= {round(bar.get_window_extent(renderer).width, 3) for bar in fig.axes[0].patches}
    assert len(bar_widths) == 1
    plt.close(fig)


def test_forest_names_no_interval_in_its_legend_where_none_is_drawn(monkeypatch):
    saved = capture(monkeypatch)
    frame = contrasts_frame().assign(n=1, ci_low=np.nan, ci_high=np.nan)
    forest(frame, "unused.pdf", 0.95)
    ax = saved["fig"].axes[0]
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["margin ±1"]
    bars = [line for line in ax.get_lines() if len(set(line.get_ydata())) == 1]
    assert len(bars) == len(frame)  # the means' markers, no interval
    plt.close(saved["fig"])
