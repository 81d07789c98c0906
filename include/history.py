"""The Replay validation page: every run's result from every output root, each dataset's history and trends.

A run is a folder directly inside an output root (``paths.allowed_roots("output")``: output/ by default, or the
folders of METRICS_REPLAY_OUTPUT_ROOTS) that holds a validation.json. The page lists them newest first, filtered
by dataset, status and date range and cut into pages; above the list, per dataset: the latest status, the pass
rate, and plots of duration, differing windows, alert counts and (live runs) alert latency over its runs.

Thousands of runs must not mean thousands of JSON files parsed per request: each file's parsed record is cached
by its path and (inode, mtime, size), so a request stats every file and parses only new or rewritten ones
(validation.json is always replaced by a rename, so a rewrite is a new inode). The cache is per process and
holds only files seen in the latest listing.

Links are relative, so the page works wherever the API server is mounted: the report (``runs/<folder>/report``,
served by the plugin), and the run in Airflow's grid view and validate_output's task log (``../dags/...``, the
Airflow 3 UI's routes ``/dags/{dag_id}/runs/{run_id}`` and ``.../tasks/{task_id}``, opened in the top window
since the UI shows this page in a frame).
"""

from __future__ import annotations

import html
import json
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from urllib.parse import quote, urlencode

from include import blessing
from include.contract import REPORT_FILE, VALIDATION_FILE, report_route
from include.reports import STYLE
from include.validation import (ComparedPart, ErrorPart, NotApplicablePart, Part, ValidationFileError,
                                ValidationRecord, read_record)

DAG_ID = "metrics_replay"
LOG_TASK = "validate_output"  # every listed run has a validation.json, so this task ran: its log is linked
STATUSES = ("pass", "fail", "error", "unreadable")
PER_PAGE = 50
MAX_PER_PAGE = 500
TREND_RUNS = 500  # a dataset's plots show its latest this many runs (of the filtered date range)
TREND_DATASETS = 12  # plots for at most this many datasets at once (the most recent); filter to see another
NOT_RECORDED = "(not recorded)"  # the dataset of a record written before datasets were kept, or unreadable


class FilterError(ValueError):
    """A filter of the page's query that cannot be used; the message names the query parameter."""


@dataclass(frozen=True)
class RunRow:
    """One run folder on the page: its validation.json (or why that file could not be read) and where it is."""

    folder: str
    has_report: bool
    record: ValidationRecord | None  # None: the file is unreadable or malformed, ``problem`` says how
    problem: str | None = None
    # When it was validated (from the record), else when the file was last written: the page's order.
    when: str = ""
    root: int = 0  # index of its output root in the listing's roots (0: the first, output/ by default)

    @property
    def run_id(self) -> str:
        return (self.record.run_id if self.record else None) or self.folder

    @property
    def dataset(self) -> str:
        return (self.record.dataset if self.record else None) or NOT_RECORDED

    @property
    def status(self) -> str:
        """pass, fail, error (nothing could be compared) or unreadable (the validation.json itself)."""
        if self.record is None:
            return "unreadable"
        if self.record.passed:
            return "pass"
        return "error" if self.record.error is not None else "fail"

    def _compared(self) -> list[ComparedPart]:
        if self.record is None:
            return []
        return [p for p in (self.record.cpu_mem, self.record.net_disk) if isinstance(p, ComparedPart)]

    @property
    def differing(self) -> int | None:
        """Windows differing beyond the tolerance (mismatching, missing, extra), both outputs; None: not compared."""
        parts = self._compared()
        return sum(p.differing for p in parts) if parts else None

    @property
    def within_tolerance(self) -> int | None:
        parts = self._compared()
        return sum(p.within_tolerance for p in parts) if parts else None

    @property
    def alerts(self) -> int | None:
        """Produced rows with an alert, both outputs; a live record of before alert counts were kept gives its
        alerts.jsonl count; None when unknown."""
        counts = [p.alerts for p in self._compared() if p.alerts is not None]
        if counts:
            return sum(counts)
        return self.record.latency.alerts if self.record is not None and self.record.latency is not None else None

    @property
    def latency(self) -> tuple[float | None, float | None] | None:
        """(p50, p95) alert latency in seconds of a live run; None for batch runs."""
        if self.record is None or self.record.latency is None:
            return None
        figures = self.record.latency.latency_seconds
        return figures.p50, figures.p95

    @property
    def report_url(self) -> str | None:
        if not self.has_report:
            return None
        return report_route(self.folder, self.root)

    @property
    def grid_url(self) -> str | None:
        """The run in Airflow's grid view; None when the run id is unknown (an unreadable record)."""
        if self.record is None or not self.record.run_id:
            return None
        return f"../dags/{DAG_ID}/runs/{quote(self.record.run_id, safe='')}"

    @property
    def log_url(self) -> str | None:
        grid = self.grid_url
        return f"{grid}/tasks/{LOG_TASK}" if grid else None

    def to_json(self) -> dict:
        """The row as the page's JSON API serves it."""
        return {"folder": self.folder, "root": self.root, "run_id": self.run_id, "has_report": self.has_report,
                "problem": self.problem, "dataset": self.dataset, "status": self.status, "when": self.when,
                "links": {"report": self.report_url, "grid": self.grid_url, "log": self.log_url},
                "validation": self.record.model_dump(mode="json", exclude_unset=True) if self.record else None}


# Parsed records by validation.json path: ((inode, mtime_ns, size), record or None, problem or None).
_CACHE: dict[str, tuple[tuple[int, int, int], ValidationRecord | None, str | None]] = {}
_CACHE_LOCK = threading.Lock()


def _read_cached(vfile: str, stat: os.stat_result, seen: dict) -> tuple[ValidationRecord | None, str | None]:
    signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    cached = _CACHE.get(vfile)
    if cached is None or cached[0] != signature:
        try:
            cached = (signature, read_record(vfile), None)
        except ValidationFileError as exc:
            cached = (signature, None, str(exc))
    seen[vfile] = cached
    return cached[1], cached[2]


def list_runs(output_roots: Path | Sequence[Path]) -> list[RunRow]:
    """Every replay in the folders directly inside ``output_roots`` (one root or several) that reached
    validation, newest first.

    A validation.json that cannot be read or is malformed is listed too, with the reason: a run that vanished
    from the page would look like a run that never happened. A root that does not exist lists nothing."""
    roots = [output_roots] if isinstance(output_roots, (str, os.PathLike)) else list(output_roots)
    rows: list[RunRow] = []
    seen: dict = {}
    for index, root in enumerate(roots):
        try:
            entries = list(os.scandir(root))
        except OSError:
            continue
        for entry in entries:
            vfile = os.path.join(entry.path, VALIDATION_FILE)
            try:
                stat = os.stat(vfile)
            except OSError:  # no validation.json (or no folder): not a validated run
                continue
            record, problem = _read_cached(vfile, stat, seen)
            has_report = os.path.isfile(os.path.join(entry.path, REPORT_FILE))
            when = (record.validated_at if record else None) or _utc_text(stat.st_mtime)
            rows.append(RunRow(folder=entry.name, has_report=has_report, record=record, problem=problem, when=when,
                               root=index))
    with _CACHE_LOCK:  # only what this listing saw stays: files removed since are forgotten
        _CACHE.clear()
        _CACHE.update(seen)
    rows.sort(key=lambda r: (r.when, r.folder), reverse=True)
    return rows


def _utc_text(timestamp: float) -> str:
    """An mtime in validated_at's format (UTC ISO 8601), so both sort together."""
    return datetime.fromtimestamp(timestamp, timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunFilter:
    """What the page shows: one dataset (its dataset_path as given, or NOT_RECORDED), one status, and runs
    validated from ``since`` to ``until`` (UTC dates, both included). None: any."""

    dataset: str | None = None
    status: str | None = None
    since: date | None = None
    until: date | None = None

    @classmethod
    def parse(cls, dataset: str | None = None, status: str | None = None, since: str | None = None,
              until: str | None = None) -> RunFilter:
        """From the page's query (empty values, as an HTML form sends them, mean any); FilterError names the
        parameter of a value that cannot be used."""
        status = (status or "").strip() or None
        if status is not None and status not in STATUSES:
            raise FilterError(f"status: {status!r} is not one of {', '.join(STATUSES)}")

        def day(name: str, text: str | None) -> date | None:
            text = (text or "").strip()
            if not text:
                return None
            try:
                return date.fromisoformat(text)
            except ValueError:
                raise FilterError(f"{name}: {text!r} is not a date (YYYY-MM-DD)") from None

        first, last = day("since", since), day("until", until)
        if first and last and first > last:
            raise FilterError(f"since ({first}) is after until ({last})")
        return cls(dataset=(dataset or "").strip() or None, status=status, since=first, until=last)

    def matches(self, row: RunRow) -> bool:
        if self.dataset is not None and row.dataset != self.dataset:
            return False
        if self.status is not None and row.status != self.status:
            return False
        day = row.when[:10]
        if self.since is not None and not (day and day >= self.since.isoformat()):
            return False
        return not (self.until is not None and not (day and day <= self.until.isoformat()))

    def apply(self, rows: Iterable[RunRow]) -> list[RunRow]:
        return [r for r in rows if self.matches(r)]

    def without_status(self) -> RunFilter:
        """The same dataset and dates, any status: what a dataset's summary and trends are computed over."""
        return RunFilter(dataset=self.dataset, since=self.since, until=self.until)

    def query(self, **changes: object) -> str:
        """This filter (with ``changes``, e.g. page=2) as a query string for the page's links."""
        values = {"dataset": self.dataset, "status": self.status,
                  "since": self.since.isoformat() if self.since else None,
                  "until": self.until.isoformat() if self.until else None, **changes}
        return "?" + urlencode({k: v for k, v in values.items() if v not in (None, "")})


@dataclass(frozen=True)
class Page:
    rows: list[RunRow]
    number: int  # 1-based
    per_page: int
    total: int  # rows over all pages

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def paginate(rows: Sequence[RunRow], number: int = 1, per_page: int = PER_PAGE) -> Page:
    """Page ``number`` (clamped to the pages there are) of ``per_page`` rows (1 to MAX_PER_PAGE)."""
    per_page = min(max(1, per_page), MAX_PER_PAGE)
    pages = max(1, -(-len(rows) // per_page))
    number = min(max(1, number), pages)
    start = (number - 1) * per_page
    return Page(rows=list(rows[start:start + per_page]), number=number, per_page=per_page, total=len(rows))


@dataclass(frozen=True)
class DatasetSummary:
    """One dataset's runs (newest first): its latest status, pass rate and trends."""

    dataset: str
    runs: list[RunRow]

    @property
    def latest(self) -> RunRow:
        return self.runs[0]

    @property
    def passed(self) -> int:
        return sum(1 for r in self.runs if r.status == "pass")

    @property
    def pass_rate(self) -> float:
        """Passed runs over all its runs (a run that failed to compare or whose record is unreadable counts as
        not passed)."""
        return self.passed / len(self.runs)

    def trend(self) -> list[dict]:
        """Its latest TREND_RUNS runs, oldest first: what the plots show (and the JSON API serves)."""
        return [{"run_id": r.run_id, "when": r.when, "status": r.status,
                 "duration_seconds": r.record.duration_seconds if r.record else None,
                 "differing": r.differing, "within_tolerance": r.within_tolerance, "alerts": r.alerts,
                 "latency_p50": r.latency[0] if r.latency else None,
                 "latency_p95": r.latency[1] if r.latency else None}
                for r in reversed(self.runs[:TREND_RUNS])]

    def to_json(self) -> dict:
        return {"dataset": self.dataset, "runs": len(self.runs), "passed": self.passed,
                "pass_rate": round(self.pass_rate, 4),
                "latest": {"run_id": self.latest.run_id, "status": self.latest.status, "when": self.latest.when},
                "trend": self.trend()}


def summarize(rows: Iterable[RunRow]) -> list[DatasetSummary]:
    """Runs (newest first) grouped by dataset; the dataset with the most recent run first."""
    groups: dict[str, list[RunRow]] = {}
    for r in rows:
        groups.setdefault(r.dataset, []).append(r)
    return [DatasetSummary(dataset=d, runs=runs) for d, runs in groups.items()]  # dicts keep first-seen order


# --- the page ------------------------------------------------------------------------------------------------

PAGE_STYLE = """
form.filters{margin:8px 0 16px}form.filters label{margin-right:12px}
.trend{width:100%;max-width:1100px}.pager a,.pager span{margin-right:10px}
tr.unreadable td{background:#fff4f4}
"""
# A run's status as its points' marker in the trend plots (each series keeps its own colour).
STATUS_SYMBOLS = {"pass": "circle", "fail": "x", "error": "diamond", "unreadable": "square"}


def _counts(part: Part) -> str:
    if isinstance(part, NotApplicablePart):
        return "not applicable"
    if isinstance(part, ErrorPart):
        return f"not compared: {part.reason}"
    tolerated = f", {part.within_tolerance} within tolerance" if part.within_tolerance else ""
    return (f"{part.matching}/{part.expected_rows} matching{tolerated}, produced {part.produced_rows}, "
            f"missing {part.missing}, extra {part.extra}")


def _links(r: RunRow) -> str:
    links = []
    if r.report_url:
        links.append(f'<a href="{html.escape(r.report_url)}">report</a>')
    if r.grid_url:
        links.append(f'<a href="{html.escape(r.grid_url)}" target="_top">grid</a>')
        links.append(f'<a href="{html.escape(r.log_url)}" target="_top">log</a>')
    return " ".join(links)


def _run_row(r: RunRow) -> str:
    if r.record is None:
        # The folder stands in for the run id, which is in the file that could not be read.
        return (f'<tr class="unreadable" data-folder="{html.escape(r.folder)}">'
                f'<td class="l">{html.escape(r.folder)}</td><td class="l">{NOT_RECORDED}</td>'
                f'<td class="l fail">UNREADABLE</td>'
                f'<td colspan="5" class="l problem">{html.escape(r.problem or "")}</td>'
                f'<td class="l">{html.escape(r.when)}</td><td class="l">{_links(r)}</td></tr>')
    v = r.record
    verdict = {"pass": '<span class="pass">PASS</span>', "fail": '<span class="fail">FAIL</span>',
               "error": '<span class="fail">ERROR</span>'}[r.status]
    duration = f"{v.duration_seconds:.0f} s" if v.duration_seconds is not None else ""
    alerts = "" if r.alerts is None else str(r.alerts)
    return (f'<tr data-run-id="{html.escape(r.run_id)}" data-folder="{html.escape(r.folder)}" '
            f'data-dataset="{html.escape(r.dataset)}" data-status="{r.status}">'
            f'<td class="l">{html.escape(r.run_id)}</td><td class="l dataset">{html.escape(r.dataset)}</td>'
            f'<td class="l">{verdict}</td><td class="l cpu-mem">{html.escape(_counts(v.cpu_mem))}</td>'
            f'<td class="l net-disk">{html.escape(_counts(v.net_disk))}</td>'
            f'<td class="l">{html.escape(v.mode or "")}</td><td class="alerts">{alerts}</td><td>{duration}</td>'
            f'<td class="l">{html.escape(v.validated_at or "")}</td><td class="l links">{_links(r)}</td></tr>')


def _plot_time(when: str) -> str:
    """A timestamp as Plotly's date axis reads it: UTC, without the offset."""
    try:
        t = datetime.fromisoformat(when)
    except ValueError:
        return when
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc).replace(tzinfo=None)
    return t.isoformat(sep=" ")


def trend_figure(summary: DatasetSummary) -> dict:
    """A dataset's trends as the page's plot script takes them: the runs' validation times (``x``), hover texts
    and status markers (``symbol``: crosses for failed runs) once, and ``panels`` of [title, [[series name,
    values], ...]]: duration, differing windows (and those within tolerance), alert counts, and alert latency
    when a live run recorded it; ``layout`` is Plotly's, one panel above the other over a shared time axis.

    Plain JSON rather than a plotly.graph_objects Figure, and each array once rather than once per trace: the
    page is rendered per request, and a Figure's validation costs tens of milliseconds per dataset; repeating
    the times and texts in every trace made page 1 of 2,000 runs 1 MB."""
    points = summary.trend()
    panels: list[list] = [
        ["duration (s)", [["duration", "duration_seconds"]]],
        ["differing windows", [["differing", "differing"], ["within tolerance", "within_tolerance"]]],
        ["alerts", [["alerts", "alerts"]]],
    ]
    if any(p["latency_p50"] is not None for p in points):
        panels.append(["alert latency (s)", [["latency p50", "latency_p50"], ["latency p95", "latency_p95"]]])
    layout: dict = {"height": 170 * len(panels) + 60, "margin": {"t": 30, "b": 40, "l": 60, "r": 20},
                    "showlegend": True, "legend": {"orientation": "h", "y": 1.08},
                    "xaxis": {"type": "date", "anchor": f"y{len(panels)}"}}
    gap = 0.06
    height = (1 - gap * (len(panels) - 1)) / len(panels)
    for i, (title, _) in enumerate(panels, start=1):
        top = 1 - (i - 1) * (height + gap)
        layout[f"yaxis{i}"] = {"domain": [round(max(0.0, top - height), 4), round(top, 4)],
                               "title": {"text": title, "font": {"size": 11}}, "rangemode": "tozero"}
    return {"x": [_plot_time(p["when"]) for p in points], "text": [f"{p['run_id']} ({p['status']})" for p in points],
            "symbol": [STATUS_SYMBOLS[p["status"]] for p in points],
            "panels": [[title, [[name, [p[key] for p in points]] for name, key in series]]
                       for title, series in panels],
            "layout": layout}


# Draws one trend_figure: a trace per series, all sharing the figure's times, texts and status markers.
TREND_SCRIPT = """
function replayTrend(id, t) {
  var data = [];
  t.panels.forEach(function (panel, i) {
    panel[1].forEach(function (series) {
      data.push({type: "scatter", mode: "lines+markers", name: series[0], x: t.x, y: series[1], text: t.text,
                 xaxis: "x", yaxis: "y" + (i + 1), marker: {symbol: t.symbol, size: 8},
                 hovertemplate: "%{text}<br>%{x}: %{y}<extra>" + series[0] + "</extra>"});
    });
  });
  Plotly.newPlot(id, data, t.layout, {displaylogo: false, responsive: true});
}
"""


def _script_json(value: object) -> str:
    """JSON to embed in a <script>: '<', '>' and '&' as JSON escapes, so no value (a run id) can close the tag
    or open a comment there."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _filters_form(f: RunFilter, datasets: Sequence[str], per_page: int) -> str:
    def options(values: Sequence[str], chosen: str | None, any_label: str) -> str:
        out = [f'<option value="">{any_label}</option>']
        for v in values:
            sel = " selected" if v == chosen else ""
            out.append(f'<option value="{html.escape(v)}"{sel}>{html.escape(v)}</option>')
        return "".join(out)

    return ('<form class="filters" method="get">'
            f'<label>Dataset <select name="dataset">{options(datasets, f.dataset, "all")}</select></label>'
            f'<label>Status <select name="status">{options(STATUSES, f.status, "any")}</select></label>'
            f'<label>From <input type="date" name="since" value="{f.since.isoformat() if f.since else ""}"></label>'
            f'<label>To <input type="date" name="until" value="{f.until.isoformat() if f.until else ""}"></label>'
            f'<input type="hidden" name="per_page" value="{per_page}">'
            '<button type="submit">Filter</button> <a href="?">clear</a></form>')


def _summary_table(summaries: Sequence[DatasetSummary], f: RunFilter) -> str:
    rows = []
    for s in summaries:
        latest = s.latest
        rows.append(f'<tr data-dataset="{html.escape(s.dataset)}">'
                    f'<td class="l"><a href="{html.escape(f.query(dataset=s.dataset))}">{html.escape(s.dataset)}'
                    f'</a></td><td>{len(s.runs)}</td>'
                    f'<td class="l latest-status"><span class="{"pass" if latest.status == "pass" else "fail"}">'
                    f'{latest.status.upper()}</span> {html.escape(latest.run_id)}</td>'
                    f'<td class="l">{html.escape(latest.when)}</td>'
                    f'<td class="pass-rate">{s.pass_rate:.0%} ({s.passed}/{len(s.runs)})</td></tr>')
    return ('<table class="datasets"><tr><th class="l">dataset</th><th>runs</th><th class="l">latest</th>'
            '<th class="l">latest at</th><th>pass rate</th></tr>' + "".join(rows) + "</table>")


def _trends(summaries: Sequence[DatasetSummary]) -> str:
    out = []
    for n, s in enumerate(summaries[:TREND_DATASETS]):
        fig = trend_figure(s)
        out.append(f'<h3>{html.escape(s.dataset)}</h3><div class="trend" id="trend-{n}" '
                   f'data-dataset="{html.escape(s.dataset)}" data-points="{len(fig["x"])}"></div>'
                   f'<script>replayTrend("trend-{n}", {_script_json(fig)});</script>')
    if len(summaries) > TREND_DATASETS:
        out.append(f"<p>Plots of the {TREND_DATASETS} datasets run most recently; choose a dataset above to see "
                   "another's.</p>")
    return "".join(out)


def expected_files(runs: list[RunRow]) -> list[str]:
    """The expected files the listed runs were compared with, and the default ones: whose blessing history the
    page shows (include.blessing keeps it beside each expected file)."""
    from include.paths import DEFAULT_EXPECTED, DEFAULT_EXPECTED_NET_DISK

    found = [str(DEFAULT_EXPECTED), str(DEFAULT_EXPECTED_NET_DISK)]
    for r in runs:
        if r.record is not None:
            found += [p.expected_path for p in (r.record.cpu_mem, r.record.net_disk) if isinstance(p, ComparedPart)]
    return list(dict.fromkeys(found))


def blessings_section(found: blessing.Histories) -> str:
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


def audit_section(rows: Sequence[RunRow]) -> str:
    """The bless audit records (who accepted which run's output as the new expected output, when, and why) of
    the expected files ``rows`` were compared with, and of the default ones."""
    return blessings_section(blessing.histories(expected_files(rows)))


def _pager(page: Page, f: RunFilter) -> str:
    def link(label: str, number: int) -> str:
        return f'<a href="{html.escape(f.query(page=number, per_page=page.per_page))}">{label}</a>'

    parts = [f'<span class="page-of">page {page.number} of {page.pages} ({page.total:,} '
             f'run{"" if page.total == 1 else "s"})</span>']
    if page.number > 1:
        parts += [link("first", 1), link("previous", page.number - 1)]
    if page.number < page.pages:
        parts += [link("next", page.number + 1), link("last", page.pages)]
    return f'<p class="pager">{"".join(parts)}</p>'


def runs_page(runs: Sequence[RunRow], f: RunFilter | None = None, page: int = 1, per_page: int = PER_PAGE,
              plotly_src: str = "plotly.min.js") -> str:
    """The plugin's "Replay validation" page over ``runs`` (every run, newest first): the filter form, each
    dataset's summary and trend plots (over the filter's dataset and dates, any status), then page ``page`` of
    the runs the filter keeps, linking to each one's report, grid view and log (relative links).
    ``plotly_src``: where the page loads plotly.js from (the plugin serves it)."""
    f = f or RunFilter()
    datasets = sorted({r.dataset for r in runs})
    summaries = summarize(f.without_status().apply(runs))
    shown = paginate(f.apply(runs), page, per_page)
    body = [_run_row(r) for r in shown.rows]
    table = ('<table class="runs"><tr><th class="l">run</th><th class="l">dataset</th><th class="l">result</th>'
             '<th class="l">cpu_mem</th><th class="l">net_disk</th><th class="l">mode</th><th>alerts</th>'
             '<th>duration</th><th class="l">validated at</th><th class="l"></th></tr>' + "".join(body) + "</table>"
             ) if body else "<p>No replay has been validated yet.</p>" if not runs else "<p>No run matches.</p>"
    history = (["<h2>Datasets</h2>", _summary_table(summaries, f), "<h2>Trends</h2>", _trends(summaries)]
               if summaries else [])
    script = (f'<script src="{html.escape(plotly_src)}"></script><script>{TREND_SCRIPT}</script>'
              if summaries else "")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Replay validation</title>{script}"
            f"<style>{STYLE}{PAGE_STYLE}</style></head><body><h1>Replay validation</h1>"
            f"{_filters_form(f, datasets, shown.per_page)}{''.join(history)}{audit_section(runs)}"
            f"<h2>Runs</h2>{_pager(shown, f)}{table}</body></html>\n")
