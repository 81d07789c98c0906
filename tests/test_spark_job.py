"""The Spark job's transformations on tiny DataFrames and on the real recorded day, in a real local Spark."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from include.formatting import csv_text
from include.contract import CPU_MEM_HEADER
from include.spark_job import event_second, parse_records, window_cpu_mem

pytestmark = pytest.mark.spark

SCHEMA = "server_id string, event_second int, cpu_pct float, mem_pct float"


def t(hms: str) -> int:
    h, m, s = map(int, hms.split(":"))
    return h * 3600 + m * 60 + s


def rows_of(df) -> list[tuple[str, ...]]:
    return [tuple(r) for r in df.collect()]


def test_windows_averages_and_warmup_drop(spark):
    """Two samples 5 s apart: windows aligned to the first second, leading two dropped, trailing kept."""
    df = spark.createDataFrame([("s1", t("10:00:00"), 10.0, 20.0), ("s1", t("10:00:05"), 30.0, 40.0),
                                ("s1", t("10:00:10"), 50.0, 60.0)], SCHEMA)
    got = rows_of(window_cpu_mem(df, t("10:00:00"), warmup_windows=2))
    # Windows with data start at 09:59:40, 09:59:50, 10:00:00, 10:00:10; the first two are dropped.
    assert got == [("s1", "10:00:00", "10:00:30", "30", "40", ""),
                   ("s1", "10:00:10", "10:00:40", "50", "60", "")]


def test_alignment_follows_the_earliest_second(spark):
    df = spark.createDataFrame([("s1", t("10:00:03"), 1.0, 1.0)], SCHEMA)
    got = rows_of(window_cpu_mem(df, t("10:00:03"), warmup_windows=0))
    assert [(r[1], r[2]) for r in got] == [("09:59:43", "10:00:13"), ("09:59:53", "10:00:23"),
                                          ("10:00:03", "10:00:33")]


@pytest.mark.parametrize("cpu,mem,alert", [
    (80.07, 89.36, "CPU and Memory spike"),
    (80.06, 89.36, "Memory saturation suspected"),
    (80.07, 89.35, "CPU spike suspected"),
    (80.06, 89.35, ""),
])
def test_alerts_at_threshold_boundaries(spark, cpu, mem, alert):
    df = spark.createDataFrame([("s1", t("10:00:00"), cpu, mem)], SCHEMA)
    got = rows_of(window_cpu_mem(df, t("10:00:00"), warmup_windows=0))
    assert {r[5] for r in got} == {alert}


def test_half_up_rounding_and_shortest_text(spark):
    """47 -> '47'; an exact half (0.125, exact in 32 bits) rounds up; 0.005 narrows to 0.00499999988 -> 0."""
    df = spark.createDataFrame([("s1", t("10:00:00"), 47.0, 0.125), ("s3", t("10:00:00"), 0.005, 0.0), ("s2", t("10:00:00"), 57.9, 12.345)], SCHEMA)
    got = {r[0]: r for r in rows_of(window_cpu_mem(df, t("10:00:00"), warmup_windows=2))}
    assert got["s1"][3:5] == ("47", "0.13")
    assert got["s3"][3:5] == ("0", "0")
    assert got["s2"][3:5] == ("57.9", "12.35")


def test_sorted_by_server_then_window_start_as_strings(spark):
    df = spark.createDataFrame([("server_10", t("10:00:00"), 1.0, 1.0), ("server_2", t("10:00:00"), 1.0, 1.0)],
                               SCHEMA)
    got = rows_of(window_cpu_mem(df, t("10:00:00"), warmup_windows=0))
    assert [r[0] for r in got] == ["server_10"] * 3 + ["server_2"] * 3


def test_parse_records_reads_the_seed_message_format(spark):
    values = ['{"timestamp": "05:47:30", "original_ts": "20:52:00", "server_id": "server_1", "cpu_pct": 87.78}',
              '{"timestamp": "05:47:30", "original_ts": "20:52:05", "server_id": "server_1", "mem_pct": 93.74}']
    df = spark.createDataFrame([(v.encode(),) for v in values], "value binary")
    got = rows_of(parse_records(df))
    assert got[0][:2] == ("server_1", t("20:52:00")) and got[0][3] is None
    assert abs(got[0][2] - 87.78) < 1e-5 and abs(got[1][3] - 93.74) < 1e-5 and got[1][2] is None


def test_real_day_matches_known_good_output_byte_for_byte(spark, real_data):
    dataset, expected = real_data
    df = spark.read.csv(str(dataset), header=True,
                        schema="server_id string, timestamp string, cpu_pct float, mem_pct float")
    samples = df.select("server_id", event_second(F.col("timestamp")).alias("event_second"), "cpu_pct", "mem_pct")
    rows = rows_of(window_cpu_mem(samples, t("20:52:00")))
    assert len(rows) == 14_400
    assert csv_text(CPU_MEM_HEADER, rows).encode() == expected.read_bytes()


ND_SCHEMA = "server_id string, event_second int, net_in double, disk_io double"


@pytest.mark.parametrize("net,disk,alert", [
    (6104.83, 1839.94, "Network flood + Disk thrash suspected"),
    (6104.83, 1839.93, "Possible DDoS"),
    (6104.82, 1839.94, "Disk thrash suspected"),
    (6104.82, 1839.93, ""),
])
def test_net_disk_alerts_at_threshold_boundaries(spark, net, disk, alert):
    from include.spark_job import window_net_disk

    df = spark.createDataFrame([("s1", t("10:00:00"), net, disk)], ND_SCHEMA)
    got = rows_of(window_net_disk(df, t("10:00:00"), warmup_windows=0))
    assert {r[5] for r in got} == {alert}
    assert {r[3] for r in got} == {repr(net)}


def test_net_disk_maxima_and_text(spark):
    """Window maxima, not means; 64-bit values; no trailing '.0'; large values stay positional."""
    from include.spark_job import window_net_disk

    df = spark.createDataFrame([("s1", t("10:00:00"), 7000.0, 12.5), ("s1", t("10:00:05"), 123456789.0, 3.0),
                                ("s1", t("10:00:10"), 1.0, 0.0)], ND_SCHEMA)
    got = rows_of(window_net_disk(df, t("10:00:00"), warmup_windows=2))
    assert got == [("s1", "10:00:00", "10:00:30", "123456789", "12.5", "Possible DDoS"),
                   ("s1", "10:00:10", "10:00:40", "1", "0", "")]


@pytest.mark.parametrize("seed,thresholds", [
    (4, (80.07, 89.36, 6104.83, 1839.94)),
    (77, (65.0, 75.5, 4500.0, 1200.0)),
])
def test_reference_and_spark_agree_byte_for_byte(spark, tmp_path, seed, thresholds):
    """The independent reference and the Spark job, on a generated four-metric day (default and other thresholds)."""
    from include import dataset
    from devtools import generate, reference
    from include.contract import NET_DISK_HEADER
    from include.spark_job import window_net_disk

    path = generate.write_dataset(tmp_path / f"day{seed}.csv", seed=seed)
    ds = dataset.load(path)
    cpu_t, mem_t, net_t, disk_t = thresholds
    df = spark.read.csv(str(path), header=True, schema="server_id string, timestamp string, cpu_pct float, "
                        "mem_pct float, net_in double, net_out double, disk_io double")
    samples = df.select("server_id", event_second(F.col("timestamp")).alias("event_second"), "cpu_pct", "mem_pct",
                        "net_in", "disk_io").cache()
    spec = reference.WindowSpec()
    spark_cpu = csv_text(CPU_MEM_HEADER, rows_of(window_cpu_mem(samples, ds.first_second, cpu_threshold=cpu_t,
                                                                mem_threshold=mem_t)))
    spark_nd = csv_text(NET_DISK_HEADER, rows_of(window_net_disk(samples, ds.first_second, net_threshold=net_t,
                                                                 disk_threshold=disk_t)))
    assert spark_cpu == csv_text(CPU_MEM_HEADER, reference.cpu_mem_rows(ds, spec, cpu_t, mem_t))
    ref_nd = reference.net_disk_rows(ds, spec, net_t, disk_t)
    assert spark_nd == csv_text(NET_DISK_HEADER, ref_nd)
    assert {r[5] for r in ref_nd} >= {"Possible DDoS", "Disk thrash suspected", "Network flood + Disk thrash suspected"}


def test_csv_lines_quote_as_pythons_csv_writer(spark):
    """The job makes its CSV lines in the JVM; they must be what csv_text (the seed's writer) makes."""
    from include.spark_job import csv_lines
    rows = [("server,1", 'say "hi"', "two\nlines", None), ("plain", " space ", "tab\there", "cr\rhere"),
            ("", "x", "", "y")]
    df = spark.createDataFrame(rows, "a string, b string, c string, d string")
    got = "".join(r["value"] + "\n" for r in csv_lines(df).collect())
    assert got == csv_text(("a", "b", "c", "d"), rows).split("\n", 1)[1]
