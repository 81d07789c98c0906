"""The independent reference implementation: window maths, alerts at boundaries, and the real recorded day."""

from __future__ import annotations

from decimal import Decimal

import pytest

from include import dataset
from devtools import reference
from include.formatting import csv_text
from devtools.reference import (CPU_MEM_HEADER, NET_DISK_HEADER, WindowSpec, cpu_mem_alert, cpu_mem_rows,
                               net_disk_alert, net_disk_rows)


def test_window_starts_align_to_the_origin():
    spec = WindowSpec(30, 10, 0)
    assert spec.starts_containing(105, origin=100) == [100, 90, 80]
    assert spec.starts_containing(103, origin=103) == [103, 93, 83]
    assert WindowSpec(25, 10, 0).starts_containing(100, origin=0) == [100, 90, 80]


@pytest.mark.parametrize("cpu,mem,alert", [
    ("80.07", "89.36", "CPU and Memory spike"), ("80.06", "89.36", "Memory saturation suspected"),
    ("80.07", "89.35", "CPU spike suspected"), ("80.06", "89.35", "")])
def test_cpu_mem_alert_boundaries(cpu, mem, alert):
    assert cpu_mem_alert(Decimal(cpu), Decimal(mem), 80.07, 89.36) == alert


@pytest.mark.parametrize("net,disk,alert", [
    ("6104.83", "1839.94", "Network flood + Disk thrash suspected"), ("6104.83", "1839.93", "Possible DDoS"),
    ("6104.82", "1839.94", "Disk thrash suspected"), ("6104.82", "1839.93", "")])
def test_net_disk_alert_boundaries(net, disk, alert):
    assert net_disk_alert(Decimal(net), Decimal(disk), 6104.83, 1839.94) == alert


def test_tiny_day_by_hand(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text("server_id,timestamp,cpu_pct,mem_pct,net_in,net_out,disk_io\n"
                    "a,10:00:00,10,20,100,1,5\na,10:00:05,30,40,7000,1,6\na,10:00:10,50,95,1,1,2000\n"
                    "b,10:00:00,90,95,1,1,1\n")
    ds = dataset.load(path)
    rows = cpu_mem_rows(ds, WindowSpec(30, 10, 2), 80.07, 89.36)
    # a: windows start 09:59:40, 09:59:50 (dropped), 10:00:00, 10:00:10; b: only three windows, all from 09:59:40
    assert rows == [("a", "10:00:00", "10:00:30", "30", "51.67", ""),
                    ("a", "10:00:10", "10:00:40", "50", "95", "Memory saturation suspected"),
                    ("b", "10:00:00", "10:00:30", "90", "95", "CPU and Memory spike")]
    nd = net_disk_rows(ds, WindowSpec(30, 10, 2), 6104.83, 1839.94)
    assert nd[0] == ("a", "10:00:00", "10:00:30", "7000", "2000", "Network flood + Disk thrash suspected")
    assert nd[1] == ("a", "10:00:10", "10:00:40", "1", "2000", "Disk thrash suspected")


def test_real_day_is_byte_identical_to_the_known_good_output(real_data):
    path, expected = real_data
    rows = cpu_mem_rows(dataset.load(path), WindowSpec(), 80.07, 89.36)
    assert csv_text(CPU_MEM_HEADER, rows).encode() == expected.read_bytes()


def test_64_bit_parsing_would_not_reproduce_it(real_data, monkeypatch):
    """Why values are narrowed to 32 bits: with doubles, cells come out 0.01 off."""
    path, expected = real_data
    monkeypatch.setattr(reference, "as_float32", float)
    rows = cpu_mem_rows(dataset.load(path), WindowSpec(), 80.07, 89.36)
    want = expected.read_text().splitlines()[1:]
    differing = sum(1 for a, b in zip(want, (",".join(r) for r in rows)) if a != b)
    # ~8% of cells, two number cells a row: about one row in six differs
    assert 0.10 < differing / len(want) < 0.25


def test_net_disk_header():
    assert NET_DISK_HEADER == ("server_id", "window_start", "window_end", "max_net_in", "max_disk_io", "alert")


def test_dated_windows_print_utc_date_times_in_time_order(tmp_path):
    """Dated input (an offset, Z, and no suffix) is windowed on UTC epoch seconds and written as UTC
    date-times; a window across midnight ends on the next date; one across days keeps the time order."""
    path = tmp_path / "dated.csv"
    path.write_text("server_id,timestamp,cpu_pct,mem_pct\n"
                    "a,2024-04-01T02:00:05+02:00,30,40\n"  # 2024-04-01 00:00:05 UTC
                    "a,2024-03-31T23:59:50Z,10,20\n"
                    "a,2024-04-02 09:00:00,90,95\n")
    ds = dataset.load(path)
    assert ds.dated
    rows = cpu_mem_rows(ds, WindowSpec(30, 10, 0), 80.07, 89.36)
    assert rows == [("a", "2024-03-31 23:59:30", "2024-04-01 00:00:00", "10", "20", ""),
                    ("a", "2024-03-31 23:59:40", "2024-04-01 00:00:10", "20", "30", ""),
                    ("a", "2024-03-31 23:59:50", "2024-04-01 00:00:20", "20", "30", ""),
                    ("a", "2024-04-01 00:00:00", "2024-04-01 00:00:30", "30", "40", ""),
                    ("a", "2024-04-02 08:59:40", "2024-04-02 09:00:10", "90", "95", "CPU and Memory spike"),
                    ("a", "2024-04-02 08:59:50", "2024-04-02 09:00:20", "90", "95", "CPU and Memory spike"),
                    ("a", "2024-04-02 09:00:00", "2024-04-02 09:00:30", "90", "95", "CPU and Memory spike")]


def test_time_of_day_across_midnight_sorts_in_time_order(tmp_path):
    """With recording_start the 00:xx rows lie on the next day: their windows come after 23:59:50 and print
    as times of day (text order would put them first); the rows' file order does not matter."""
    path = tmp_path / "night.csv"
    path.write_text("server_id,timestamp,cpu_pct,mem_pct\nb,00:00:05,30,40\nb,23:59:50,10,20\n"
                    "a,00:00:00,50,60\n")
    ds = dataset.load(path, recording_start="2024-03-30T23:00:00Z")
    rows = cpu_mem_rows(ds, WindowSpec(30, 10, 0), 80.07, 89.36)
    assert [r[:4] for r in rows] == [("a", "23:59:40", "00:00:10", "50"), ("a", "23:59:50", "00:00:20", "50"),
                                     ("a", "00:00:00", "00:00:30", "50"),
                                     ("b", "23:59:30", "00:00:00", "10"), ("b", "23:59:40", "00:00:10", "20"),
                                     ("b", "23:59:50", "00:00:20", "20"), ("b", "00:00:00", "00:00:30", "30")]
    # Without recording_start the same file is one calendar day: 00:00:05 is its first sample and 23:59:50 its
    # last (the windows before 00:00:00 start on the evening before, printed as times of day).
    one_day = cpu_mem_rows(dataset.load(path), WindowSpec(30, 10, 0), 80.07, 89.36)
    assert [(r[1], r[3]) for r in one_day if r[0] == "b"] == [
        ("23:59:40", "30"), ("23:59:50", "30"), ("00:00:00", "30"), ("23:59:30", "10"), ("23:59:40", "10"),
        ("23:59:50", "10")]


@pytest.mark.parametrize("name", ["dated", "midnight"])
def test_shipped_recordings_expected_files_are_the_references(name):
    """data/'s time-true recordings and their expected files agree (`make reference` wrote them): the dated
    one from a folder of several files, the time-of-day one with its recording_start."""
    from devtools import generate
    from include.paths import DATA_DIR

    if name == "dated":
        ds = dataset.load(DATA_DIR / generate.DATED_FOLDER)
        files = (generate.DATED_EXPECTED, generate.DATED_EXPECTED_NET_DISK)
        assert len(ds.files) == 3 and ds.dated
    else:
        ds = dataset.load(DATA_DIR / generate.MIDNIGHT_FILE, recording_start=generate.MIDNIGHT_RECORDING_START)
        files = (generate.MIDNIGHT_EXPECTED, generate.MIDNIGHT_EXPECTED_NET_DISK)
        assert not ds.dated and ds.last_second >= 86_400  # it crosses midnight
    cpu = csv_text(CPU_MEM_HEADER, cpu_mem_rows(ds, WindowSpec(), 80.07, 89.36))
    nd = csv_text(NET_DISK_HEADER, net_disk_rows(ds, WindowSpec(), 6104.83, 1839.94))
    assert cpu.encode() == (DATA_DIR / files[0]).read_bytes()
    assert nd.encode() == (DATA_DIR / files[1]).read_bytes()
    # What makes them worth shipping: windows across midnight, and every kind of alert.
    starts = [line.split(",")[1] for line in cpu.splitlines()[1:]]
    assert any(s.endswith("23:59:50") for s in starts) and any(s.endswith("00:00:00") for s in starts)
    assert {line.rsplit(",", 1)[1] for line in cpu.splitlines()[1:]} == {
        "", "CPU and Memory spike", "Memory saturation suspected", "CPU spike suspected"}
    assert {line.rsplit(",", 1)[1] for line in nd.splitlines()[1:]} == {
        "", "Network flood + Disk thrash suspected", "Possible DDoS", "Disk thrash suspected"}


def test_reference_command_takes_a_folder_and_recording_start(tmp_path):
    """`python -m devtools.cli reference` (make reference's tool): a folder dataset, and --recording-start for a
    time-of-day recording across midnight; a bad recording_start is refused by name."""
    from devtools import cli, generate
    from include.paths import DATA_DIR

    out, out_nd = tmp_path / "cpu.csv", tmp_path / "nd.csv"
    assert cli.main(["reference", "--dataset", str(DATA_DIR / generate.DATED_FOLDER), "--out", str(out),
                     "--out-net-disk", str(out_nd)]) == 0
    assert out.read_bytes() == (DATA_DIR / generate.DATED_EXPECTED).read_bytes()
    assert out_nd.read_bytes() == (DATA_DIR / generate.DATED_EXPECTED_NET_DISK).read_bytes()
    out.unlink()
    # A glob, relative to the project root as dataset_path is.
    assert cli.main(["reference", "--dataset", f"data/{generate.DATED_FOLDER}/day-*.csv", "--out", str(out)]) == 0
    assert out.read_bytes() == (DATA_DIR / generate.DATED_EXPECTED).read_bytes()
    assert cli.main(["reference", "--dataset", f"data/{generate.MIDNIGHT_FILE}", "--out", str(out),
                     "--recording-start", generate.MIDNIGHT_RECORDING_START]) == 0
    assert out.read_bytes() == (DATA_DIR / generate.MIDNIGHT_EXPECTED).read_bytes()
    assert cli.main(["reference", "--dataset", str(DATA_DIR / generate.MIDNIGHT_FILE), "--out", str(out),
                     "--recording-start", "tomorrow"]) == 2
