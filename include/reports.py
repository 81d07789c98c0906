"""A self-contained HTML report of one replay: the validation summary, first mismatches, and plots.

Plots are Plotly figures with plotly.js embedded once, so the file opens anywhere without a network.
Per server: avg_cpu and avg_mem over time with the thresholds drawn and alert windows marked; and an
overview of all servers as small multiples. A live run adds its late-data counts and its alert latency: the
figures and a plot of each alert's latency against when its window became ready. A run with a tolerance says
so, with the windows that passed only within it and a table of the first such numbers.

Figures are plain Plotly JSON (dicts) handed to plotly.io unvalidated, and the output is read with the csv
module: building graph objects (each threshold line checked against every subplot) and importing pandas took
most of validate_output's time (bench row 4f). Plotly is imported only when a report is rendered, so the
Replay validation page (plugins/), which imports this module, stays light.
"""

from __future__ import annotations

import csv
import html
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from include.alerts import parse_utc
from include.latency import AlertLatency, Figures, LatencySummary, plot_points
from include.paths import write_atomically
from include.validation import EXPLAINED, ComparedPart, LateRecord, Part, ValidationRecord

STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:8px 0 16px}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left}
.pass{color:#17752d;font-weight:bold}.fail{color:#b3261e;font-weight:bold}.na{color:#666;font-weight:bold}
.explained{color:#8a5a00;font-weight:bold}
"""


def _status_class(status: str) -> str:
    return {"pass": "pass", "fail": "fail", EXPLAINED: "explained"}.get(status, "na")


def _parts(validation: ValidationRecord) -> tuple[tuple[str, Part], ...]:
    return (("cpu_mem", validation.cpu_mem), ("net_disk", validation.net_disk))


def summary_table(validation: ValidationRecord) -> str:
    """The per-output summary as an HTML table (the numbers of validation.json)."""
    rows = []
    for part, p in _parts(validation):
        cls = _status_class(p.status)
        if not isinstance(p, ComparedPart):  # not applicable, or not compared at all: the reason says why
            rows.append(f'<tr><td class="l">{part}</td><td class="l {cls}">{html.escape(p.status)}</td>'
                        f'<td colspan="6" class="l">{html.escape(p.reason)}</td></tr>')
            continue
        mism = ", ".join(f"{html.escape(c)}={n}" for c, n in p.mismatches_per_column.items())
        rows.append(f'<tr><td class="l">{part}</td><td class="l {cls}">{p.status.upper()}</td>'
                    f'<td>{p.expected_rows}</td><td>{p.produced_rows}</td><td>{p.matching}</td>'
                    f'<td class="tolerated">{p.within_tolerance}</td>'
                    f'<td>{p.missing}</td><td>{p.extra}</td><td class="l">{mism}</td></tr>')
    head = ('<tr><th class="l">output</th><th class="l">status</th><th>expected</th><th>produced</th>'
            '<th>matching</th><th>within tolerance</th><th>missing</th><th>extra</th>'
            '<th class="l">mismatches per column</th></tr>')
    return f"<table>{head}{''.join(rows)}</table>" + tolerance_note(validation)


def tolerance_note(validation: ValidationRecord) -> str:
    """What the numbers were compared with, and how many windows passed only thanks to the tolerance."""
    if not validation.tolerance:
        return '<p class="tolerance">Numbers compared exactly (at two decimals, as the files are written).</p>'
    within = sum(p.within_tolerance for _, p in _compared(validation))
    cells = ", ".join(f"{part} {html.escape(c)}={n}" for part, p in _compared(validation)
                      for c, n in p.within_tolerance_per_column.items() if n)
    return (f'<p class="tolerance">Tolerance &plusmn;{validation.tolerance:g} (absolute, numeric columns): '
            f'{within} window{" differs" if within == 1 else "s differ"} only within it and pass'
            + (f" (cells: {cells}; the first are listed below)" if cells else "")
            + ", counted apart from the matching ones.</p>")


def _row(*cells: str, left: int = 3) -> str:
    """A table row of escaped ``cells``, the first ``left`` of them left-aligned (text, not numbers)."""
    return "<tr>" + "".join(f'<td class="l">{html.escape(c)}</td>' if i < left else f"<td>{html.escape(c)}</td>"
                            for i, c in enumerate(cells)) + "</tr>"


def _head(*names: str, left: int = 3) -> str:
    return "<tr>" + "".join(f'<th class="l">{n}</th>' if i < left else f"<th>{n}</th>"
                            for i, n in enumerate(names)) + "</tr>"


def _compared(validation: ValidationRecord):
    return [(part, p) for part, p in _parts(validation) if isinstance(p, ComparedPart)]


def tolerated_table(validation: ValidationRecord) -> str:
    """The first numbers that differ within the tolerance, with the difference: never hidden."""
    rows = []
    for part, p in _compared(validation):
        for m in p.first_within_tolerance:
            try:
                diff = f"{Decimal(m.produced) - Decimal(m.expected):+}"
            except ArithmeticError:
                diff = ""
            rows.append(_row(part, " / ".join(m.key), m.column, m.expected, m.produced, diff))
    if not rows:
        return ""
    head = _head("output", "window", "column", "expected", "produced", "difference")
    return f'<table class="within-tolerance">{head}{"".join(rows)}</table>'


def mismatch_table(validation: ValidationRecord) -> str:
    rows = []
    for part, p in _compared(validation):
        rows += [_row(part, " / ".join(m.key), m.column, m.expected, m.produced) for m in p.first_mismatches]
        rows += [_row(part, " / ".join(key), f"({kind} window)", "", "")
                 for kind, keys in (("missing", p.first_missing), ("extra", p.first_extra)) for key in keys]
    if not rows:
        return "<p>No mismatches.</p>"
    return f"<table>{_head('output', 'window', 'column', 'expected', 'produced')}{''.join(rows)}</table>"


def late_table(late: LateRecord) -> str:
    """A live run's late data: what was sent late, what Spark dropped, and the differing windows classified."""
    outputs = list(late.explained)
    cells = "".join(f"<td>{late.explained[o]}</td><td>{late.unexplained[o]}</td>" for o in outputs)
    head = "".join(f'<th>{html.escape(o)} explained</th><th>{html.escape(o)} unexplained</th>' for o in outputs)
    table = ('<table class="late"><tr><th>late samples sent</th><th>beyond the watermark</th>'
             f'<th>dropped by the watermark (Spark)</th>{head}<th class="l">late drops</th></tr>'
             f'<tr><td>{late.samples_sent}</td><td>{late.beyond_watermark}</td><td>{late.dropped_by_watermark}</td>'
             f'{cells}<td class="l">{"allowed" if late.allow_late_drops else "not allowed"}</td></tr></table>')
    note = (f"<p>Samples held back up to {late.late_max_seconds} recorded s; a sample is beyond the watermark when "
            f"it was sent more than {late.watermark_seconds} recorded s behind the replay. A differing window is "
            "explained when it holds such a sample of its server.</p>")
    if not late.windows:
        return table + note
    rows = "".join(f'<tr><td class="l">{html.escape(w.output)}</td><td class="l">{w.kind}</td>'
                   f'<td class="l">{html.escape(" / ".join(w.key))}</td>'
                   f'<td class="l {"explained" if w.explained else "fail"}">'
                   f'{"explained" if w.explained else "unexplained"}</td></tr>' for w in late.windows)
    return (table + note + '<table><tr><th class="l">output</th><th class="l">difference</th><th class="l">window'
            f'</th><th class="l">late data</th></tr>{rows}</table>')


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def latency_table(latency: LatencySummary) -> str:
    """A live run's alert latency figures (seconds)."""
    def row(name: str, f: Figures) -> str:
        return (f'<tr><td class="l">{name}</td><td>{f.count}</td><td>{_seconds(f.p50)}</td><td>{_seconds(f.p95)}'
                f'</td><td>{_seconds(f.max)}</td></tr>')

    return ('<table class="latency"><tr><th class="l">seconds</th><th>count</th><th>p50</th><th>p95</th>'
            '<th>max</th></tr>' + row("latency (emitted_at - ready_at)", latency.latency_seconds)
            + row("from the window's last sample", latency.from_last_sample_seconds) + "</table>"
            f"<p>{latency.alerts} alerts; {latency.emitted_before_last_send} emitted while the producer was still "
            f"sending (before its last send at {html.escape(latency.last_send_at or '-')})"
            + (f"; {latency.unmeasured} without a ready time" if latency.unmeasured else "")
            + f". A window is ready when the first record {latency.watermark_seconds} s or more past its end has "
            "been sent.</p>")


Figure = dict  # a Plotly figure as JSON: {"data": [traces], "layout": {...}}
CPU_COLOR, MEM_COLOR, ALERT_COLOR = "#1f77b4", "#2ca02c", "#d62728"


def latency_figure(latencies: list[AlertLatency], first_sent_at: float) -> Figure:
    """Each alert's latency (y) against when its window became ready, in seconds since the first send (x)."""
    points = plot_points(latencies, first_sent_at)
    data = []
    for output in sorted({a.output for _, _, a in points}):
        mine = [(x, y, a) for x, y, a in points if a.output == output]
        data.append({"type": "scatter", "x": [x for x, _, _ in mine], "y": [y for _, y, _ in mine],
                     "mode": "markers", "name": output,
                     "text": [f"{a.server_id} {a.window_start}-{a.window_end}" for _, _, a in mine],
                     "hovertemplate": "%{text}<br>ready %{x:.1f} s, latency %{y:.3f} s<extra></extra>"})
    return {"data": data, "layout": {
        "title": {"text": "Alert latency over the replay"}, "height": 360, "margin": {"t": 40, "b": 40},
        "xaxis": {"title": {"text": "window ready, seconds since the first send"}},
        "yaxis": {"title": {"text": "latency (s)"}, "rangemode": "tozero"}}}


def _windows(cpu_mem_csv: Path) -> dict[str, list]:
    """cpu_mem.csv as columns: server_id, t (each window's start as ``YYYY-MM-DD HH:MM:SS``, how a date axis
    reads it), avg_cpu, avg_mem, alert."""
    with open(cpu_mem_csv, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        at = {name: i for i, name in enumerate(next(reader))}
        columns = list(zip(*reader)) or [()] * len(at)
    server_id, starts = list(columns[at["server_id"]]), columns[at["window_start"]]
    if any(len(text) > 8 for text in starts):  # a dated dataset's windows: UTC date-times already
        t = list(starts)
    else:
        # Times of day (fixed-width HH:MM:SS, so text order is time order), each server's in time order: one
        # earlier than the row before is on the next day (a recording across midnight). Dated 2000-01-01 on.
        t, last, days, dates = [], {}, {}, {}
        for server, text in zip(server_id, starts):
            if server in last and text < last[server]:
                days[server] = days.get(server, 0) + 1
            last[server] = text
            d = days.get(server, 0)
            if d not in dates:
                dates[d] = f"{date(2000, 1, 1) + timedelta(days=d)} "
            t.append(dates[d] + text)
    return {"server_id": server_id, "t": t, "avg_cpu": [float(x) for x in columns[at["avg_cpu"]]],
            "avg_mem": [float(x) for x in columns[at["avg_mem"]]], "alert": list(columns[at["alert"]])}


def _servers(df: dict[str, list]) -> list[str]:
    return sorted(set(df["server_id"]), key=lambda s: (len(s), s))


def _rows_of(df: dict[str, list], server: str) -> dict[str, list]:
    keep = [i for i, s in enumerate(df["server_id"]) if s == server]
    return {k: [v[i] for i in keep] for k, v in df.items()}


def _threshold_line(y: float, dash: str, color: str, axis: str = "") -> dict:
    """A horizontal line across a subplot (axis "" for the first, "2" for the second...) at ``y``."""
    return {"type": "line", "xref": f"x{axis} domain", "yref": f"y{axis}", "x0": 0, "x1": 1, "y0": y, "y1": y,
            "line": {"dash": dash, "color": color, "width": 1}}


def server_figure(df: dict[str, list], server: str, cpu_threshold: float, mem_threshold: float) -> Figure:
    s = _rows_of(df, server)
    x = s["t"]
    alerts = [i for i, a in enumerate(s["alert"]) if a]
    data = [{"type": "scatter", "x": x, "y": s["avg_cpu"], "name": "avg_cpu", "line": {"color": CPU_COLOR}},
            {"type": "scatter", "x": x, "y": s["avg_mem"], "name": "avg_mem", "line": {"color": MEM_COLOR}},
            {"type": "scatter", "x": [x[i] for i in alerts], "y": [101] * len(alerts), "mode": "markers",
             "name": "alert window", "marker": {"symbol": "triangle-down", "color": ALERT_COLOR, "size": 8},
             "text": [s["alert"][i] for i in alerts], "hovertemplate": "%{x|%H:%M:%S}: %{text}<extra></extra>"}]
    labels = [{"text": f"{name} {value:g}", "xref": "x domain", "yref": "y", "x": 1, "y": value,
               "xanchor": "right", "yanchor": "bottom", "showarrow": False}
              for name, value in (("cpu_threshold", cpu_threshold), ("mem_threshold", mem_threshold))]
    return {"data": data, "layout": {
        "title": {"text": f"{server}: windowed averages"}, "height": 320, "margin": {"t": 40, "b": 30},
        "yaxis": {"range": [0, 105], "title": {"text": "%"}}, "xaxis": {"tickformat": "%H:%M"},
        "shapes": [_threshold_line(cpu_threshold, "dash", CPU_COLOR), _threshold_line(mem_threshold, "dot", MEM_COLOR)],
        "annotations": labels}}


def grid_layout(titles: list[str], cols: int, vertical_spacing: float) -> dict:
    """The layout of a grid of subplots, ``cols`` wide, one per title, row by row, each row's y axes shared: the
    axes and title annotations make_subplots(rows, cols, subplot_titles, shared_yaxes=True) lays out, with its
    default horizontal spacing (0.2 / cols). Built here as JSON because make_subplots builds graph objects."""
    rows = max(1, -(-len(titles) // cols))
    spacing = 0.2 / cols
    width = (1 - spacing * (cols - 1)) / cols
    height = (1 - vertical_spacing * (rows - 1)) / rows
    layout: dict = {"annotations": []}
    for k in range(rows * cols):
        r, c = divmod(k, cols)
        axis = "" if k == 0 else str(k + 1)
        x0, top = c * (width + spacing), 1 - r * (height + vertical_spacing)
        layout[f"xaxis{axis}"] = {"anchor": f"y{axis}", "domain": [x0, x0 + width]}
        layout[f"yaxis{axis}"] = {"anchor": f"x{axis}", "domain": [max(0.0, top - height), top]}
        if c > 0:  # shared with the row's first y axis
            first = r * cols
            layout[f"yaxis{axis}"].update(matches="y" if first == 0 else f"y{first + 1}", showticklabels=False)
        if k < len(titles):
            layout["annotations"].append({"text": titles[k], "x": x0 + width / 2, "y": top, "xref": "paper",
                                          "yref": "paper", "xanchor": "center", "yanchor": "bottom",
                                          "showarrow": False, "font": {"size": 16}})
    return layout


def overview_figure(df: dict[str, list], cpu_threshold: float, mem_threshold: float) -> Figure:
    servers = _servers(df)
    cols = 4
    rows = max(1, -(-len(servers) // cols))
    layout = grid_layout(servers, cols, 0.35 / rows if rows > 1 else 0.1)
    data, shapes = [], []
    for i, server in enumerate(servers):
        s = _rows_of(df, server)
        x = s["t"]
        axis = "" if i == 0 else str(i + 1)
        data += [{"type": "scatter", "x": x, "y": s["avg_cpu"], "line": {"color": CPU_COLOR, "width": 1},
                  "name": "avg_cpu", "showlegend": i == 0, "xaxis": f"x{axis}", "yaxis": f"y{axis}"},
                 {"type": "scatter", "x": x, "y": s["avg_mem"], "line": {"color": MEM_COLOR, "width": 1},
                  "name": "avg_mem", "showlegend": i == 0, "xaxis": f"x{axis}", "yaxis": f"y{axis}"}]
        shapes += [_threshold_line(cpu_threshold, "dash", CPU_COLOR, axis),
                   _threshold_line(mem_threshold, "dot", MEM_COLOR, axis)]
    for name in [k for k in layout if k.startswith("xaxis")]:
        layout[name]["tickformat"] = "%H:%M"
    layout.update(title={"text": "All servers"}, height=220 * rows, margin={"t": 60, "b": 20}, shapes=shapes)
    return {"data": data, "layout": layout}


def _figure_html(fig: Figure, template: dict, include_plotlyjs: bool) -> str:
    import plotly.io as pio

    fig["layout"].setdefault("template", template)
    # validate=False: the dicts above are Plotly's JSON already; checking them builds the graph objects again.
    return pio.to_html(fig, full_html=False, include_plotlyjs=include_plotlyjs, validate=False)


def render(validation: ValidationRecord, cpu_mem_csv: Path, run_id: str, cpu_threshold: float,
           mem_threshold: float, latencies: list[AlertLatency] | None = None) -> str:
    """The report; ``latencies`` (a live run's alerts, include.latency.alert_latencies) are plotted."""
    verdict = "PASS" if validation.passed else "FAIL"
    parts = [f"<h1>Replay validation: {html.escape(run_id)} "
             f'<span class="{"pass" if validation.passed else "fail"}">{verdict}</span></h1>',
             "<h2>Summary</h2>", summary_table(validation)]
    plotly_js = [True]  # plotly.js goes into the page once, with the first figure
    template: dict = {}

    def figure(fig: Figure) -> str:
        if not template:  # Plotly's default look, as a graph object would have it
            import plotly.io as pio

            template.update(pio.templates[pio.templates.default].to_plotly_json())
        text = _figure_html(fig, template, plotly_js[0])
        plotly_js[0] = False
        return text

    if validation.late is not None:
        parts += ["<h2>Late data</h2>", late_table(validation.late)]
    if validation.latency is not None:
        parts += ["<h2>Alert latency</h2>", latency_table(validation.latency)]
        if latencies and validation.latency.first_send_at:
            parts.append(figure(latency_figure(latencies, parse_utc(validation.latency.first_send_at))))
    parts += ["<h2>First mismatches</h2>", mismatch_table(validation)]
    if tolerated_table(validation):
        parts += ["<h2>First differences within tolerance</h2>", tolerated_table(validation)]
    if Path(cpu_mem_csv).is_file():
        df = _windows(cpu_mem_csv)
        parts.append("<h2>Overview</h2>")
        parts.append(figure(overview_figure(df, cpu_threshold, mem_threshold)))
        parts.append("<h2>Per server</h2>")
        for server in _servers(df):
            parts.append(figure(server_figure(df, server, cpu_threshold, mem_threshold)))
    else:
        parts.append(f"<p>No output at {html.escape(str(cpu_mem_csv))} to plot.</p>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Replay {html.escape(run_id)}: {verdict}"
            f"</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")


def write(path: Path, validation: ValidationRecord, cpu_mem_csv: Path, run_id: str, cpu_threshold: float,
          mem_threshold: float, latencies: list[AlertLatency] | None = None) -> Path:
    write_atomically(path, render(validation, cpu_mem_csv, run_id, cpu_threshold, mem_threshold, latencies))
    return path
