"""A self-contained HTML report of one replay: the validation summary, first mismatches, and plots.

Plots are Plotly figures with plotly.js embedded once, so the file opens anywhere without a network.
Per server: avg_cpu and avg_mem over time with the thresholds drawn and alert windows marked; and an
overview of all servers as small multiples. A live run adds its late-data counts and its alert latency: the
figures and a plot of each alert's latency against when its window became ready.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from include.alerts import parse_utc
from include.blessing import Histories
from include.contract import REPORT_FILE, VALIDATION_FILE
from include.latency import AlertLatency, Figures, LatencySummary, plot_points
from include.paths import write_atomically
from include.validation import (EXPLAINED, ComparedPart, ErrorPart, LateRecord, NotApplicablePart, Part,
                                ValidationFileError, ValidationRecord, read_record)

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
                    f'<td>{p.missing}</td><td>{p.extra}</td><td class="l">{mism}</td></tr>')
    head = ('<tr><th class="l">output</th><th class="l">status</th><th>expected</th><th>produced</th>'
            '<th>matching</th><th>missing</th><th>extra</th><th class="l">mismatches per column</th></tr>')
    return f"<table>{head}{''.join(rows)}</table>"


def mismatch_table(validation: ValidationRecord) -> str:
    rows = []
    for part, p in _parts(validation):
        if not isinstance(p, ComparedPart):
            continue
        for m in p.first_mismatches:
            rows.append(f'<tr><td class="l">{part}</td><td class="l">{html.escape(" / ".join(m.key))}</td>'
                        f'<td class="l">{html.escape(m.column)}</td><td>{html.escape(m.expected)}</td>'
                        f'<td>{html.escape(m.produced)}</td></tr>')
        for kind, keys in (("missing", p.first_missing), ("extra", p.first_extra)):
            for key in keys:
                rows.append(f'<tr><td class="l">{part}</td><td class="l">{html.escape(" / ".join(key))}</td>'
                            f'<td class="l">({kind} window)</td><td></td><td></td></tr>')
    if not rows:
        return "<p>No mismatches.</p>"
    head = ('<tr><th class="l">output</th><th class="l">window</th><th class="l">column</th><th>expected</th>'
            '<th>produced</th></tr>')
    return f"<table>{head}{''.join(rows)}</table>"


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


def latency_figure(latencies: list[AlertLatency], first_sent_at: float) -> go.Figure:
    """Each alert's latency (y) against when its window became ready, in seconds since the first send (x)."""
    points = plot_points(latencies, first_sent_at)
    fig = go.Figure()
    for output in sorted({a.output for _, _, a in points}):
        mine = [(x, y, a) for x, y, a in points if a.output == output]
        fig.add_trace(go.Scatter(
            x=[x for x, _, _ in mine], y=[y for _, y, _ in mine], mode="markers", name=output,
            text=[f"{a.server_id} {a.window_start}-{a.window_end}" for _, _, a in mine],
            hovertemplate="%{text}<br>ready %{x:.1f} s, latency %{y:.3f} s<extra></extra>"))
    fig.update_layout(title="Alert latency over the replay", height=360, margin={"t": 40, "b": 40},
                      xaxis={"title": "window ready, seconds since the first send"},
                      yaxis={"title": "latency (s)", "rangemode": "tozero"})
    return fig


def _windows(cpu_mem_csv: Path) -> pd.DataFrame:
    df = pd.read_csv(cpu_mem_csv, dtype={"server_id": str, "window_start": str, "alert": str},
                     keep_default_na=False)
    if df["window_start"].str.len().gt(8).any():  # a dated dataset's windows: UTC date-times
        df["t"] = pd.to_datetime(df["window_start"], format="%Y-%m-%d %H:%M:%S")
    else:
        # Times of day, each server's in time order: one earlier than the row before is on the next day
        # (a recording across midnight).
        t = pd.to_datetime("2000-01-01 " + df["window_start"], format="%Y-%m-%d %H:%M:%S")
        days = t.groupby(df["server_id"]).diff().lt(pd.Timedelta(0)).groupby(df["server_id"]).cumsum()
        df["t"] = t + pd.to_timedelta(days, unit="D")
    for c in ("avg_cpu", "avg_mem"):
        df[c] = pd.to_numeric(df[c])
    return df


def server_figure(df: pd.DataFrame, server: str, cpu_threshold: float, mem_threshold: float) -> go.Figure:
    s = df[df["server_id"] == server]
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=s["t"], y=s["avg_cpu"], name="avg_cpu", line={"color": "#1f77b4"}))
    fig.add_trace(go.Scatter(x=s["t"], y=s["avg_mem"], name="avg_mem", line={"color": "#2ca02c"}))
    alerts = s[s["alert"] != ""]
    fig.add_trace(go.Scatter(x=alerts["t"], y=[101] * len(alerts), mode="markers", name="alert window",
                             marker={"symbol": "triangle-down", "color": "#d62728", "size": 8},
                             text=alerts["alert"], hovertemplate="%{x|%H:%M:%S}: %{text}<extra></extra>"))
    fig.add_hline(y=cpu_threshold, line_dash="dash", line_color="#1f77b4",
                  annotation_text=f"cpu_threshold {cpu_threshold:g}")
    fig.add_hline(y=mem_threshold, line_dash="dot", line_color="#2ca02c",
                  annotation_text=f"mem_threshold {mem_threshold:g}")
    fig.update_layout(title=f"{server}: windowed averages", height=320, margin={"t": 40, "b": 30},
                      yaxis={"range": [0, 105], "title": "%"}, xaxis={"tickformat": "%H:%M"})
    return fig


def overview_figure(df: pd.DataFrame, cpu_threshold: float, mem_threshold: float) -> go.Figure:
    servers = sorted(df["server_id"].unique(), key=lambda s: (len(s), s))
    cols = 4
    rows = max(1, -(-len(servers) // cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=servers, shared_yaxes=True,
                        vertical_spacing=0.35 / rows if rows > 1 else 0.1)
    for i, server in enumerate(servers):
        s = df[df["server_id"] == server]
        r, c = i // cols + 1, i % cols + 1
        fig.add_trace(go.Scatter(x=s["t"], y=s["avg_cpu"], line={"color": "#1f77b4", "width": 1}, name="avg_cpu",
                                 showlegend=i == 0), row=r, col=c)
        fig.add_trace(go.Scatter(x=s["t"], y=s["avg_mem"], line={"color": "#2ca02c", "width": 1}, name="avg_mem",
                                 showlegend=i == 0), row=r, col=c)
    fig.add_hline(y=cpu_threshold, line_dash="dash", line_color="#1f77b4", line_width=1)
    fig.add_hline(y=mem_threshold, line_dash="dot", line_color="#2ca02c", line_width=1)
    fig.update_layout(title="All servers", height=220 * rows, margin={"t": 60, "b": 20})
    fig.update_xaxes(tickformat="%H:%M")
    return fig


def render(validation: ValidationRecord, cpu_mem_csv: Path, run_id: str, cpu_threshold: float,
           mem_threshold: float, latencies: list[AlertLatency] | None = None) -> str:
    """The report; ``latencies`` (a live run's alerts, include.latency.alert_latencies) are plotted."""
    verdict = "PASS" if validation.passed else "FAIL"
    parts = [f"<h1>Replay validation: {html.escape(run_id)} "
             f'<span class="{"pass" if validation.passed else "fail"}">{verdict}</span></h1>',
             "<h2>Summary</h2>", summary_table(validation)]
    plotly_js = [True]  # plotly.js goes into the page once, with the first figure

    def figure(fig: go.Figure) -> str:
        text = fig.to_html(full_html=False, include_plotlyjs=plotly_js[0])
        plotly_js[0] = False
        return text

    if validation.late is not None:
        parts += ["<h2>Late data</h2>", late_table(validation.late)]
    if validation.latency is not None:
        parts += ["<h2>Alert latency</h2>", latency_table(validation.latency)]
        if latencies and validation.latency.first_send_at:
            parts.append(figure(latency_figure(latencies, parse_utc(validation.latency.first_send_at))))
    parts += ["<h2>First mismatches</h2>", mismatch_table(validation)]
    if Path(cpu_mem_csv).is_file():
        df = _windows(cpu_mem_csv)
        parts.append("<h2>Overview</h2>")
        parts.append(figure(overview_figure(df, cpu_threshold, mem_threshold)))
        parts.append("<h2>Per server</h2>")
        for server in sorted(df["server_id"].unique(), key=lambda s: (len(s), s)):
            parts.append(figure(server_figure(df, server, cpu_threshold, mem_threshold)))
    else:
        parts.append(f"<p>No output at {html.escape(str(cpu_mem_csv))} to plot.</p>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Replay {html.escape(run_id)}: {verdict}"
            f"</title><style>{STYLE}</style></head><body>{''.join(parts)}</body></html>\n")


def write(path: Path, validation: ValidationRecord, cpu_mem_csv: Path, run_id: str, cpu_threshold: float,
          mem_threshold: float, latencies: list[AlertLatency] | None = None) -> Path:
    write_atomically(path, render(validation, cpu_mem_csv, run_id, cpu_threshold, mem_threshold, latencies))
    return path


@dataclass
class RunRow:
    """One output folder on the runs page: its validation.json, or why that file could not be read."""

    folder: str
    has_report: bool
    record: ValidationRecord | None  # None: the file is unreadable or malformed, ``problem`` says how
    problem: str | None = None
    # When it was validated (from the record), else when the file was last written: the page's order.
    when: str = ""

    @property
    def run_id(self) -> str:
        return (self.record.run_id if self.record else None) or self.folder

    def to_json(self) -> dict:
        """The row as the page's JSON API serves it."""
        return {"folder": self.folder, "run_id": self.run_id, "has_report": self.has_report,
                "problem": self.problem,
                "validation": self.record.model_dump(mode="json", exclude_unset=True) if self.record else None}


def list_runs(output_root: Path) -> list[RunRow]:
    """Every replay under ``output_root`` that reached validation, newest first.

    A validation.json that cannot be read or is malformed is listed too, with the reason: a run that
    vanished from the page would look like a run that never happened."""
    rows = []
    for vfile in Path(output_root).glob(f"*/{VALIDATION_FILE}"):
        folder = vfile.parent
        has_report = (folder / REPORT_FILE).is_file()
        try:
            record = read_record(vfile)
        except ValidationFileError as exc:
            rows.append(RunRow(folder=folder.name, has_report=has_report, record=None, problem=str(exc),
                               when=_modified(vfile)))
            continue
        rows.append(RunRow(folder=folder.name, has_report=has_report, record=record,
                           when=record.validated_at or _modified(vfile)))
    rows.sort(key=lambda r: (r.when, r.folder), reverse=True)
    return rows


def _modified(path: Path) -> str:
    """The file's mtime in validated_at's format (UTC ISO 8601), so both sort together; "" when unknown."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
    except OSError:
        return ""


def _counts(part: Part) -> str:
    if isinstance(part, NotApplicablePart):
        return "not applicable"
    if isinstance(part, ErrorPart):
        return f"not compared: {part.reason}"
    return (f"{part.matching}/{part.expected_rows} matching, produced {part.produced_rows}, "
            f"missing {part.missing}, extra {part.extra}")


def _run_row(r: RunRow) -> str:
    link = f'<a href="runs/{html.escape(r.folder)}/report">report</a>' if r.has_report else ""
    if r.record is None:
        # The folder stands in for the run id, which is in the file that could not be read.
        return (f'<tr class="unreadable" data-folder="{html.escape(r.folder)}">'
                f'<td class="l">{html.escape(r.folder)}</td><td class="l fail">UNREADABLE</td>'
                f'<td colspan="4" class="l problem">{html.escape(r.problem or "")}</td>'
                f'<td class="l"></td><td class="l">{link}</td></tr>')
    v = r.record
    verdict = '<span class="pass">PASS</span>' if v.passed else '<span class="fail">FAIL</span>'
    duration = f"{v.duration_seconds:.0f} s" if v.duration_seconds is not None else ""
    return (f'<tr data-run-id="{html.escape(r.run_id)}" data-folder="{html.escape(r.folder)}">'
            f'<td class="l">{html.escape(r.run_id)}</td>'
            f'<td class="l">{verdict}</td><td class="l cpu-mem">{html.escape(_counts(v.cpu_mem))}</td>'
            f'<td class="l net-disk">{html.escape(_counts(v.net_disk))}</td><td>{duration}</td>'
            f'<td class="l">{html.escape(v.validated_at or "")}</td><td class="l">{link}</td></tr>')


def expected_files(runs: list[RunRow]) -> list[str]:
    """The expected files the listed runs were compared with, and the default ones: whose blessing history the
    page shows (include.blessing keeps it beside each expected file)."""
    from include.paths import DEFAULT_EXPECTED, DEFAULT_EXPECTED_NET_DISK

    found = [str(DEFAULT_EXPECTED), str(DEFAULT_EXPECTED_NET_DISK)]
    for r in runs:
        if r.record is not None:
            found += [p.expected_path for p in (r.record.cpu_mem, r.record.net_disk) if isinstance(p, ComparedPart)]
    return list(dict.fromkeys(found))


def blessings_section(found: Histories) -> str:
    """The page's "Blessed expected outputs" section: one row per audit record, newest first, and any history
    file that could not be read."""
    head = '<h2 id="blessings">Blessed expected outputs</h2>' + "".join(
        f'<p class="fail blessing-problem">{html.escape(p)}</p>' for p in found.problems)
    records = found.records
    if not records:
        return head + '<p class="no-blessings">No expected output has been blessed yet.</p>'
    rows = "".join(
        f'<tr class="blessing" data-run-id="{html.escape(r.run_id)}" data-output="{html.escape(r.output)}">'
        f'<td class="l">{html.escape(r.blessed_at)}</td><td class="l approved-by">{html.escape(r.approved_by)}</td>'
        f'<td class="l">{html.escape(r.run_id)}</td><td class="l">{html.escape(r.output)}</td>'
        f'<td class="l expected">{html.escape(r.expected_path)}</td>'
        f'<td class="l counts">{r.matching}/{r.expected_rows} matching, produced {r.produced_rows}, missing '
        f'{r.missing}, extra {r.extra}, {r.mismatches} mismatched values</td>'
        f'<td class="l previous">{html.escape(r.previous_version)}</td>'
        f'<td class="l comment">{html.escape(r.comment)}</td></tr>' for r in records)
    return (head + '<table class="blessings"><tr><th class="l">blessed at (UTC)</th><th class="l">approved by</th>'
            '<th class="l">run</th><th class="l">output</th><th class="l">expected file</th>'
            '<th class="l">the failed validation it accepted</th><th class="l">previous version kept as</th>'
            '<th class="l">comment</th></tr>' + rows + "</table>")


def runs_page(runs: list[RunRow], extra: str = "") -> str:
    """The plugin's "Replay validation" page: one row per run, linking to its report (relative links);
    ``extra`` (HTML) follows the table."""
    body = [_run_row(r) for r in runs]
    table = ('<table><tr><th class="l">run</th><th class="l">result</th><th class="l">cpu_mem</th>'
             '<th class="l">net_disk</th><th>duration</th><th class="l">validated at</th><th class="l"></th></tr>'
             + "".join(body) + "</table>") if body else "<p>No replay has been validated yet.</p>"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Replay validation</title>"
            f"<style>{STYLE}</style></head><body><h1>Replay validation</h1>{table}{extra}</body></html>\n")
