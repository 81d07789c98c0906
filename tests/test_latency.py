"""The send log and alert latency: the model and its file, the maths on hand-made logs, and a live run's
validation.json and report (through replay.validate_output, on files laid out as a live run leaves them)."""

from __future__ import annotations

import json

import pytest

from include import replay
from include.alerts import AlertMessage, utc_text
from include.contract import (ALERTS_FILE, CPU_MEM_FILE, CPU_MEM_HEADER, LATENCY_KEY, MANIFEST_FILE, MODE_LIVE,
                              REPORT_FILE, SEND_LOG_FILE, STREAM_FILE, VALIDATION_FILE)
from include.formatting import csv_text
from include.latency import (EndMarker, Figures, LateSent, SendLog, SendLogError, alert_latencies, read_alerts,
                             record_end_marker, summarize)
from include.live import StreamRecord
from include.offsets import Manifest, Pace
from include.reports import render
from include.validation import ValidationInputError, add_live, read_record, validate_run

T0 = 36000  # 10:00:00, timeline second of a time-of-day dataset
EPOCH = 1_764_028_800  # 2025-11-25 00:00:00 UTC: the epoch offset
SHIFT = 1000  # time_shift_seconds
SENT0 = 1_800_000_000.0  # wall clock of the first send


def send_log(**kw) -> SendLog:
    """One group a second from 10:00:00 to 10:00:59, sent at SENT0 + i; s1's sample of 10:00:35 sent late at
    SENT0 + 45.5 (after the group of 10:00:45)."""
    fields = dict(run_id="r", attempt_id="a1", late_fraction=0.1, late_max_seconds=10, late_seed=3,
                  groups=[(T0 + i, SENT0 + i) for i in range(60)],
                  late=[LateSent(server_id="s1", second=T0 + 35, sent_at=SENT0 + 45.5, after_second=T0 + 45)],
                  last_sent_at=SENT0 + 59.25)
    return SendLog(**{**fields, **kw})


def alert(server: str, end_second: int, emitted: float, output: str = "cpu_mem") -> AlertMessage:
    """An alert of the 30 s window ending at timeline second ``end_second``, emitted at wall time ``emitted``."""
    return AlertMessage(run_id="r", output=output, server_id=server, window_start="10:00:10", window_end="10:00:40",
                        window_end_at=utc_text(float(end_second + EPOCH + SHIFT)).replace(".000Z", "Z"),
                        values={"avg_cpu": 90.0, "avg_mem": 10.0}, alert="CPU spike suspected",
                        emitted_at=utc_text(emitted))


def test_send_log_file_round_trip_end_marker_and_named_errors(tmp_path):
    path = send_log().write(tmp_path / SEND_LOG_FILE)
    assert SendLog.read(path) == send_log()
    assert json.loads(path.read_text())["groups"][1] == [T0 + 1, SENT0 + 1]
    updated = record_end_marker(path, T0 + 100, SENT0 + 61.1234567)
    assert updated.end_marker == EndMarker(second=T0 + 100, sent_at=SENT0 + 61.123457)
    assert SendLog.read(path) == updated and updated.groups == send_log().groups
    path.write_text(path.read_text().replace('"late_seed":3', '"late_seed":"3"'))
    with pytest.raises(SendLogError, match=rf"{SEND_LOG_FILE}.*late_seed"):
        SendLog.read(path)
    with pytest.raises(SendLogError, match="did produce_metrics succeed"):
        SendLog.read(tmp_path / "none.json")


def test_beyond_the_watermark_is_sent_more_than_the_watermark_behind():
    log = send_log(late=[LateSent(server_id="s", second=T0, sent_at=1.0, after_second=T0 + behind)
                         for behind in (0, 9, 10, 11, 30)])
    assert [s.behind for s in log.beyond_watermark(10)] == [11, 30]
    assert len(log.beyond_watermark(0)) == 4


def test_latency_from_ready_at_and_from_the_windows_last_sample():
    # Window [10:00:10, 10:00:40): ready when 10:00:50 (end + 10 s watermark) is sent, at SENT0 + 50.
    s1, s2 = alert("s1", T0 + 40, SENT0 + 51.5), alert("s2", T0 + 40, SENT0 + 52.0)
    got = alert_latencies([s1, s2], send_log(), EPOCH, SHIFT, watermark_seconds=10, window_seconds=30)
    assert [a.window_end_second for a in got] == [T0 + 40, T0 + 40]
    assert [a.ready_at for a in got] == [SENT0 + 50, SENT0 + 50]
    assert got[0].latency == pytest.approx(1.5) and got[1].latency == pytest.approx(2.0)
    # s1's last sample is its late one of 10:00:35, sent at +45.5; s2's is the group of 10:00:39.
    assert got[0].from_last_sample == pytest.approx(51.5 - 45.5) and got[1].from_last_sample == pytest.approx(13.0)
    # A zero watermark: ready when the window's end itself is sent.
    assert alert_latencies([s2], send_log(), EPOCH, SHIFT, 0, 30)[0].ready_at == SENT0 + 40


def test_windows_ready_only_through_the_end_marker_or_not_at_all():
    late_window = alert("s2", T0 + 55, SENT0 + 63.0)  # ready at 10:01:05: past the last group (10:00:59)
    without = alert_latencies([late_window], send_log(), EPOCH, SHIFT, 10, 30)[0]
    assert without.ready_at is None and without.latency is None and without.from_last_sample == pytest.approx(63 - 54)
    marked = send_log(end_marker=EndMarker(second=T0 + 200, sent_at=SENT0 + 60.5))
    with_marker = alert_latencies([late_window], marked, EPOCH, SHIFT, 10, 30)[0]
    assert with_marker.ready_at == SENT0 + 60.5 and with_marker.latency == pytest.approx(2.5)


def test_summary_counts_percentiles_and_alerts_before_the_last_send():
    emitted = [SENT0 + 50 + d for d in (0.5, 1.0, 1.5, 2.0, 9.5)]  # the last after the last send (+59.25)
    alerts = [alert("s2", T0 + 40, e) for e in emitted] + [alert("s2", T0 + 55, SENT0 + 70)]  # unmeasurable
    latencies = alert_latencies(alerts, send_log(), EPOCH, SHIFT, 10, 30)
    summary = summarize(latencies, send_log(), 10, 30)
    assert summary.alerts == 6 and summary.unmeasured == 1
    assert summary.latency_seconds == Figures(count=5, p50=1.5, p95=9.5, max=9.5)
    assert summary.from_last_sample_seconds.count == 6
    assert summary.emitted_before_last_send == 4
    assert summary.first_send_at == utc_text(SENT0) and summary.last_send_at == utc_text(SENT0 + 59.25)
    assert Figures.of([]) == Figures(count=0, p50=None, p95=None, max=None)
    assert "p50 1.500 s" in summary.describe() and "4 emitted before" in summary.describe()


def test_alerts_file_errors_name_the_file_and_line(tmp_path):
    path = tmp_path / ALERTS_FILE
    path.write_text(alert("s1", T0 + 40, SENT0).text() + "\n\n" + '{"output": "cpu_mem"}\n')
    with pytest.raises(SendLogError, match=rf"{ALERTS_FILE}, line 3: malformed alert"):
        read_alerts(path)
    path.write_text(alert("s1", T0 + 40, SENT0).text() + "\n")
    assert read_alerts(path) == [alert("s1", T0 + 40, SENT0)]
    with pytest.raises(SendLogError, match="no alerts file"):
        read_alerts(tmp_path / "missing.jsonl")


# --- a live run's output folder, validated ----------------------------------------------------------------

EXPECTED = [("s1", "10:00:00", "10:00:30", "50", "50", ""),
            ("s1", "10:00:10", "10:00:40", "90", "50", "CPU spike suspected"),
            ("s2", "10:00:10", "10:00:40", "95", "50", "CPU spike suspected")]


def live_folder(tmp_path, produced=EXPECTED, dropped=0, late=None):
    out = tmp_path / "out"
    out.mkdir()
    expected = tmp_path / "expected.csv"
    expected.write_text(csv_text(CPU_MEM_HEADER, EXPECTED))
    (out / CPU_MEM_FILE).write_text(csv_text(CPU_MEM_HEADER, produced))
    Manifest(run_id="r", attempt_id="a1", bootstrap_servers="127.0.0.1:9", dataset_path="d.csv", first_second=T0,
             dated=False, epoch_offset=EPOCH, time_shift_seconds=SHIFT,
             pace=Pace.measured("speed", 1.0, 60, 59, 59.0), has_net_disk=False,
             offsets={"topic-cpu": {"0": [0, 120]}, "topic-mem": {"0": [0, 120]}},
             counts={"topic-cpu": 120, "topic-mem": 120}).write(out / MANIFEST_FILE)
    log = send_log(end_marker=EndMarker(second=T0 + 100, sent_at=SENT0 + 60))
    if late is not None:
        log = log.model_copy(update={"late": late})
    log.write(out / SEND_LOG_FILE)
    StreamRecord(session_id="x", watermark_seconds=10, started_at=utc_text(SENT0 - 5), reading_at=utc_text(SENT0 - 1),
                 finished_at=utc_text(SENT0 + 70), batches={"cpu_mem": 30}, dropped_by_watermark={"cpu_mem": dropped},
                 records_read={"topic-cpu": 120, "topic-mem": 120}, starts=1, alerts=2).write(out / STREAM_FILE)
    (out / ALERTS_FILE).write_text("".join(alert(s, T0 + 40, SENT0 + e).text() + "\n"
                                           for s, e in (("s1", 51.0), ("s2", 53.0))))
    return out, expected


def validate(out, expected, **kw):
    return replay.validate_output(str(out), str(expected), None, "r", 80.0, 90.0, mode=MODE_LIVE,
                                  watermark_seconds=10, window_seconds=30, **kw)


def test_live_validation_writes_latency_and_late_sections_and_the_report_plots_latency(tmp_path):
    out, expected = live_folder(tmp_path)
    summary = validate(out, expected)
    assert summary["passed"] is True and summary[LATENCY_KEY]["latency_seconds"]["max"] == 3.0
    data = json.loads((out / VALIDATION_FILE).read_text())
    assert data[LATENCY_KEY]["latency_seconds"] == {"count": 2, "p50": 1.0, "p95": 3.0, "max": 3.0}
    assert data[LATENCY_KEY]["emitted_before_last_send"] == 2 and data[LATENCY_KEY]["alerts"] == 2
    assert data["late"]["samples_sent"] == 1 and data["late"]["beyond_watermark"] == 0
    assert data["late"]["windows"] == [] and data["cpu_mem"]["status"] == "pass"
    record = read_record(out / VALIDATION_FILE)
    assert record.latency.latency_seconds.p95 == 3.0
    page = (out / REPORT_FILE).read_text()
    assert "Alert latency over the replay" in page and "Late data" in page
    # plotly.js once, for the latency plot, the overview and two servers.
    assert page.count("window.PlotlyConfig") == 1 and page.count("Plotly.newPlot") == 4
    # The plotted points: ready 50 s after the first send, latencies 1 s and 3 s.
    assert '"x":[50.0,50.0]' in page.replace(" ", "") and '"y":[1.0,3.0]' in page.replace(" ", "")


def test_a_batch_run_keeps_exactly_its_keys(tmp_path):
    out, expected = live_folder(tmp_path)
    replay.validate_output(str(out), str(expected), None, "r", 80.0, 90.0)
    data = json.loads((out / VALIDATION_FILE).read_text())
    assert LATENCY_KEY not in data and "late" not in data
    assert "Alert latency" not in (out / REPORT_FILE).read_text()


def test_live_run_with_a_window_changed_by_a_dropped_late_sample(tmp_path):
    produced = [EXPECTED[0], ("s1", "10:00:10", "10:00:40", "88", "50", "CPU spike suspected"), EXPECTED[2]]
    beyond = [LateSent(server_id="s1", second=T0 + 35, sent_at=SENT0 + 50.5, after_second=T0 + 50)]
    out, expected = live_folder(tmp_path, produced, dropped=2, late=beyond)
    with pytest.raises(replay.ValidationFailed):
        validate(out, expected)  # allow_late_drops defaults to false
    data = json.loads((out / VALIDATION_FILE).read_text())
    assert data["passed"] is False and data["late"]["explained"] == {"cpu_mem": 1}
    assert data["late"]["dropped_by_watermark"] == 2 and data["late"]["beyond_watermark"] == 1
    summary = validate(out, expected, allow_late_drops=True)
    assert summary["passed"] is True and summary["late"] == {
        "samples_sent": 1, "beyond_watermark": 1, "dropped_by_watermark": 2, "explained": 1, "unexplained": 0}
    record = read_record(out / VALIDATION_FILE)
    assert record.cpu_mem.status == "explained" and record.cpu_mem.mismatches_per_column["avg_cpu"] == 1
    page = (out / REPORT_FILE).read_text()
    assert "EXPLAINED" in page and "s1 / 10:00:10 / 10:00:40" in page


def test_live_inputs_of_another_attempt_or_watermark_are_refused_naming_the_file(tmp_path):
    out, expected = live_folder(tmp_path)
    run = validate_run(out, expected, None, has_net_disk=False)
    with pytest.raises(ValidationInputError, match=rf"{SEND_LOG_FILE}: send log of produce attempt a1"):
        add_live(run, out, "a2", EPOCH, SHIFT, False, 10, 30, False)
    with pytest.raises(ValidationInputError, match=rf"{STREAM_FILE}: the streaming job ran with a watermark of 10"):
        add_live(run, out, "a1", EPOCH, SHIFT, False, 20, 30, False)
    (out / STREAM_FILE).unlink()
    with pytest.raises(ValidationInputError, match=STREAM_FILE):
        add_live(run, out, "a1", EPOCH, SHIFT, False, 10, 30, False)


def test_report_renders_latency_without_points_and_without_any_alert(tmp_path):
    out, expected = live_folder(tmp_path)
    run = validate_run(out, expected, None, has_net_disk=False)
    (out / ALERTS_FILE).write_text("")
    add_live(run, out, "a1", EPOCH, SHIFT, False, 10, 30, False)
    record = run.record()
    assert record.latency.alerts == 0 and record.latency.latency_seconds.count == 0
    page = render(record, out / CPU_MEM_FILE, "r", 80.0, 90.0, latencies=[])
    assert "Alert latency" in page and "0 alerts" in page
