"""The Spark job's transformations on tiny DataFrames, on the real recorded day and on the shipped time-true
recordings, in a real local Spark."""

from __future__ import annotations

import json
import random
from datetime import datetime, timezone

import pytest
from pyspark.sql import functions as F

from include.formatting import csv_text
from include.contract import CPU_MEM_HEADER, NET_DISK_HEADER
from devtools import generate
from include.spark_job import (VALUE_SCHEMA, event_second, parse_records, parse_values, window_cpu_mem,
                               window_net_disk)

pytestmark = pytest.mark.spark

SCHEMA = "server_id string, event_second int, cpu_pct float, mem_pct float"


def t(hms: str) -> int:
    h, m, s = map(int, hms.split(":"))
    return h * 3600 + m * 60 + s


def rows_of(df) -> list[tuple[str, ...]]:
    return [tuple(r) for r in df.collect()]


def epoch(text: str) -> int:
    """UTC epoch second of 'YYYY-MM-DD HH:MM:SS'."""
    return int(datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp())


def iso(second: int) -> str:
    return datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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


def test_sorted_by_server_id_as_strings(spark):
    df = spark.createDataFrame([("server_10", t("10:00:00"), 1.0, 1.0), ("server_2", t("10:00:00"), 1.0, 1.0)],
                               SCHEMA)
    got = rows_of(window_cpu_mem(df, t("10:00:00"), warmup_windows=0))
    assert [r[0] for r in got] == ["server_10"] * 3 + ["server_2"] * 3


def test_parse_records_reads_the_message_format(spark):
    """The seed's fields plus event_time; the timeline second is event_time less the shift (here the epoch
    second of the time-of-day file's midnight), whatever timestamp (send time) and original_ts say."""
    midnight = epoch("2024-03-30 00:00:00")
    values = ['{"timestamp": "05:47:30", "original_ts": "20:52:00", "event_time": "2024-03-30T20:52:00Z", '
              '"server_id": "server_1", "cpu_pct": 87.78}',
              '{"timestamp": "05:47:30", "original_ts": "20:52:05", "event_time": "2024-03-30T20:52:05Z", '
              '"server_id": "server_1", "mem_pct": 93.74}']
    df = spark.createDataFrame([(v.encode(),) for v in values], "value binary")
    got = rows_of(parse_records(df, shift_seconds=midnight))
    assert got[0][:2] == ("server_1", t("20:52:00")) and got[0][3] is None
    assert got[1][1] == t("20:52:05")
    assert abs(got[0][2] - 87.78) < 1e-5 and abs(got[1][3] - 93.74) < 1e-5 and got[1][2] is None
    # Unshifted, the timeline of a dated dataset: the UTC epoch second, as a long.
    assert [r[1] for r in rows_of(parse_records(df))] == [midnight + t("20:52:00"), midnight + t("20:52:05")]


def produced(server: str, metrics: str, event_time: str = "2024-03-30T20:52:00Z") -> str:
    """A value as include/producer.py writes it; ``server`` already JSON text, ``metrics`` '"name": number...'."""
    return (f'{{"timestamp": "05:47:30", "original_ts": "20:52:00", "event_time": "{event_time}", '
            f'"server_id": {server}, {metrics}}}')


def exact(value):
    """A parsed field for comparing: floats by their repr (keeps -0.0 and nan apart from 0.0 and each other)."""
    return repr(value) if isinstance(value, float) else value


def test_values_parse_as_from_json_parses_them_in_the_producers_layout_or_not(spark):
    """parse_values reads the producer's own layout with the Java UDF: every value, in that layout or not,
    must come out as from_json makes it, down to the last bit of each float (float32 for percentages)."""
    rng = random.Random(11)
    numbers = ["0", "-0", "0.0", "-0.0", "57.9", "87.78", "100", "1e-05", "1.5e+16", "1E2", "6104.83", "7000",
               "123456789012345678901234567890", "3.4028235677973366e+38", "1e39", "4.9e-324",
               # decimals right beside a float32 rounding midpoint: parsed once (Float.parseFloat) or through a
               # double first, they round apart
               "1.00000017881393432617187499", "1.00000017881393432617187501", "0.500000029802322387695312499"]
    numbers += [repr(round(rng.uniform(0, 100), 2)) for _ in range(300)]
    numbers += [repr(rng.uniform(-1e9, 1e9)) for _ in range(200)] + [str(rng.randrange(10**15)) for _ in range(100)]
    values = [produced('"server_1"', f'"{rng.choice(["cpu_pct", "mem_pct", "disk_io"])}": {n}') for n in numbers]
    values += [produced('"server_2"', f'"net_in": {a}, "net_out": {b}') for a, b in zip(numbers, reversed(numbers))]
    values += [produced(json.dumps("srv-é", ensure_ascii=False), '"cpu_pct": 1.5'),  # raw UTF-8: split too
               produced(json.dumps("srv-é"), '"cpu_pct": 1.5'),  # \u00e9: from_json's
               produced(json.dumps('say "hi"'), '"cpu_pct": 1.5'), produced('"tab\there"', '"cpu_pct": 1.5'),
               produced('"s"', '"cpu_pct": 1.5', event_time="2024-03-30T20:52:00+02:00")]
    not_the_layout = [
        *[produced('"s"', f'"cpu_pct": {n}') for n in ("01", "+1", ".5", "1.", "-.5", "1.e5", "0x10", "1.5f",
                                                       "NaN", "Infinity", "-Infinity", "null", "true", '"5"')],
        produced('"s"', '"cpu_pct": 1, "cpu_pct": 2'), produced('"s"', '"gpu_pct": 1'),
        produced('"s"', '"cpu_pct":1.5'), produced('"s"', '"cpu_pct": 1.5 '), produced('"s"', '"cpu_pct": 1.5, '),
        '{"event_time": "2024-03-30T20:52:00Z", "server_id": "s", "cpu_pct": 1.5}',
        '{"timestamp": "05:47:30", "original_ts": "20:52:00", "server_id": "s", "event_time": '
        '"2024-03-30T20:52:00Z", "cpu_pct": 1.5}', "not json", "", produced('"s"', '"cpu_pct": 1.5') + " ",
    ]
    values += not_the_layout
    df = spark.createDataFrame([(i, v.encode()) for i, v in enumerate(values)], "id int, value binary")
    want = {r["id"]: tuple(exact(x) for x in r["m"]) if r["m"] is not None else None for r in
            df.select("id", F.from_json(F.col("value").cast("string"), VALUE_SCHEMA).alias("m")).collect()}
    got = parse_values(df, "id", layout="split").collect()
    assert {r["id"]: tuple(exact(x) for x in r["m"]) if r["m"] is not None else None for r in got} == want
    split = {r["id"] for r in got if r["split"]}
    first_other = len(values) - len(not_the_layout)
    minus_zero = {numbers.index("-0"), len(numbers) + numbers.index("-0"), len(numbers) + len(numbers) - 1 - numbers.index("-0")}
    assert split == (set(range(len(numbers) * 2)) - minus_zero) | {first_other - 5, first_other - 1}, \
        "the layout was missed"
    assert len({want[i] for i in range(len(numbers))}) > 500  # the values differ: nothing compared as all null


def test_the_producers_values_are_in_the_layout_the_job_splits(spark, tmp_path, monkeypatch):
    """Every value include/producer.py writes (both of NET's metrics, a JSON-escaped server id, a dated and a
    time-of-day file) takes produced_layout's way: a change to the producer's text must change the job too."""
    from include import dataset
    from producer_standin import produce, use_recording_producer

    records = use_recording_producer(monkeypatch, [])
    header = "server_id,timestamp,cpu_pct,mem_pct,net_in,net_out,disk_io"
    rows = ['a,2024-03-30T23:59:59Z,10.5,20,1000,2.5,7', 'b "quoted",2024-03-31 00:00:04,11,21.25,1e3,3,8.125',
            'c,2024-03-31T01:59:59+02:00,99.99,0,0,0,1.5e+16']
    (tmp_path / "dated.csv").write_text("\n".join([header, *rows]) + "\n")
    (tmp_path / "tod.csv").write_text("server_id,timestamp,cpu_pct,mem_pct\na,20:52:00,10,20\na,20:52:05,11,21\n")
    produce(dataset.load(tmp_path / "dated.csv"))
    produce(dataset.load(tmp_path / "tod.csv"))
    texts = [r["text"] for r in records]
    assert len(texts) == 3 * 4 + 2 * 2
    df = spark.createDataFrame([(t.encode(),) for t in texts], "value binary")
    got = parse_values(df, layout="split").collect()
    escaped = [t for t, r in zip(texts, got) if not r["split"]]
    assert escaped == [t for t in texts if '\\"quoted\\"' in t]  # only the server id json.dumps escapes


def test_parse_records_takes_a_time_shift_back_to_recorded_time(spark):
    """Under time_shift "now" the event times are moved; less time_shift_seconds + epoch_offset, the
    timeline seconds are the recorded ones again (the outputs stay those of the recording)."""
    recorded = epoch("2024-03-30 23:59:55")
    shift = epoch("2026-11-25 10:00:00") - recorded  # the replay started then
    value = json.dumps({"event_time": iso(recorded + shift), "server_id": "s", "cpu_pct": 1.0})
    df = spark.createDataFrame([(value.encode(),)], "value binary")
    midnight = epoch("2024-03-30 00:00:00")
    assert rows_of(parse_records(df, shift_seconds=shift + midnight))[0][1] == t("23:59:55")
    assert rows_of(parse_records(df, shift_seconds=shift))[0][1] == recorded


def test_event_times_in_the_layout_come_out_as_sparks_cast_makes_them(spark):
    """The layout's reader turns an event time of exactly yyyy-MM-ddTHH:mm:ssZ into its epoch second itself;
    every event time, in that form or not, must give the timeline second Spark's own cast gives."""
    from include.spark_job import produced_layout, timeline_second

    times = ["2024-03-30T20:52:00Z", "2024-02-29T23:59:59Z", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
             "2000-12-31T12:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2100-02-28T00:00:00Z",
             "2024-03-30T20:52:00+02:00", "2024-03-30T20:52:01.5Z", "2024-03-30 20:52:02", "2024-03-30T20:52:03.000Z"]
    df = spark.createDataFrame([(i, produced('"s"', '"cpu_pct": 1.5', e).encode()) for i, e in enumerate(times)],
                               "id int, value binary")
    shift = 1_700_000_000
    want = dict(df.select("id", timeline_second(F.from_json(F.col("value").cast("string"), VALUE_SCHEMA)
                                                .getField("event_time"), shift)).collect())
    got = dict(parse_records(df, "id", shift_seconds=shift).select("id", "event_second").collect())
    assert got == want and len(set(want.values())) == len(times)
    cut, _, _, epoch = produced_layout(df, "id")
    assert {r[0] for r in cut.where(epoch.isNotNull()).select("id").collect()} == set(range(8)), \
        "the layout's reader read other event times than yyyy-MM-ddTHH:mm:ssZ itself"


@pytest.mark.parametrize("value,said", [
    ('{"server_id": "s", "cpu_pct": 1.0}', "has no event_time"),
    ('{"server_id": "s", "event_time": "2024-13-30T10:00:00Z", "cpu_pct": 1.0}', "'2024-13-30T10:00:00Z'"),
    # In the producer's layout: the layout's reader leaves an impossible date to Spark's cast, which fails.
    (produced('"s"', '"cpu_pct": 1.0', "2023-02-29T10:00:00Z"), "'2023-02-29T10:00:00Z'"),
    (produced('"s"', '"cpu_pct": 1.0', "2024-03-30T24:00:00Z"), "'2024-03-30T24:00:00Z'"),
])
def test_a_record_without_a_readable_event_time_fails_the_job(spark, value, said):
    """Not silently left out of every window while counted as read: the job fails, saying why."""
    from pyspark.errors import PySparkException
    from py4j.protocol import Py4JJavaError

    df = spark.createDataFrame([(value.encode(),)], "value binary")
    with pytest.raises((PySparkException, Py4JJavaError)) as caught:
        window_cpu_mem(parse_records(df), 0).collect()
    assert said in str(caught.value)


def test_real_day_matches_known_good_output_byte_for_byte(spark, real_data):
    dataset, expected = real_data
    df = spark.read.csv(str(dataset), header=True,
                        schema="server_id string, timestamp string, cpu_pct float, mem_pct float")
    samples = df.select("server_id", event_second(F.col("timestamp")).alias("event_second"), "cpu_pct", "mem_pct")
    rows = rows_of(window_cpu_mem(samples, t("20:52:00")))
    assert len(rows) == 14_400
    assert csv_text(CPU_MEM_HEADER, rows).encode() == expected.read_bytes()


DATED_SCHEMA = "server_id string, event_second long, cpu_pct float, mem_pct float"


def windows_of(rows) -> list[tuple[str, str, str]]:
    return [(r[0], r[1], r[2]) for r in rows]


def test_dated_windows_across_midnight_print_utc_date_times(spark):
    """Dated data: window_start/window_end are UTC date-times, and a window across midnight ends on the next
    date."""
    df = spark.createDataFrame([("s1", epoch("2024-03-30 23:59:50"), 10.0, 20.0),
                                ("s1", epoch("2024-03-31 00:00:05"), 30.0, 40.0)], DATED_SCHEMA)
    got = rows_of(window_cpu_mem(df, epoch("2024-03-30 23:59:50"), warmup_windows=0, dated=True))
    assert got == [("s1", "2024-03-30 23:59:30", "2024-03-31 00:00:00", "10", "20", ""),
                   ("s1", "2024-03-30 23:59:40", "2024-03-31 00:00:10", "20", "30", ""),
                   ("s1", "2024-03-30 23:59:50", "2024-03-31 00:00:20", "20", "30", ""),
                   ("s1", "2024-03-31 00:00:00", "2024-03-31 00:00:30", "30", "40", "")]


def test_dated_windows_across_days_keep_time_order_and_one_warmup(spark):
    """Two nights a day apart: windows only where data is, in time order, and the warm-up drop only at the
    server's first windows (not again after a gap)."""
    first, later = epoch("2024-03-30 23:59:50"), epoch("2024-04-01 00:00:00")
    df = spark.createDataFrame([("s1", first, 10.0, 10.0), ("s1", later, 50.0, 50.0),
                                ("s0", later, 1.0, 1.0)], DATED_SCHEMA)
    got = windows_of(rows_of(window_net_disk(
        df.selectExpr("server_id", "event_second", "double(cpu_pct) as net_in", "double(mem_pct) as disk_io"),
        first, warmup_windows=2, dated=True)))
    assert got == [("s0", "2024-04-01 00:00:00", "2024-04-01 00:00:30"),
                   ("s1", "2024-03-30 23:59:50", "2024-03-31 00:00:20"),
                   ("s1", "2024-03-31 23:59:40", "2024-04-01 00:00:10"),
                   ("s1", "2024-03-31 23:59:50", "2024-04-01 00:00:20"),
                   ("s1", "2024-04-01 00:00:00", "2024-04-01 00:00:30")]
    cpu_mem = rows_of(window_cpu_mem(df, first, warmup_windows=2, dated=True))
    assert windows_of(cpu_mem) == got  # both outputs: the same windows, text and order


def test_time_of_day_windows_across_midnight_sort_in_time_order(spark):
    """A time-of-day recording across midnight (recording_start puts 00:00:05 at 86405): the next day's
    windows print as times of day and come after 23:59:50, not first as their text would sort."""
    df = spark.createDataFrame([("s1", t("23:59:50"), 10.0, 20.0), ("s1", 86_400 + t("00:00:05"), 30.0, 40.0)],
                               SCHEMA)
    got = rows_of(window_cpu_mem(df, t("23:59:50"), warmup_windows=0))
    assert [(r[1], r[2]) for r in got] == [("23:59:30", "00:00:00"), ("23:59:40", "00:00:10"),
                                          ("23:59:50", "00:00:20"), ("00:00:00", "00:00:30")]
    assert [r[3] for r in got] == ["10", "20", "20", "30"]


def test_dated_windows_align_to_the_earliest_event_of_any_server(spark):
    """Every window start is congruent, modulo the slide, to the earliest event second (an odd one here),
    also for a server whose own first sample is at another phase."""
    origin = epoch("2024-03-31 00:00:03")
    df = spark.createDataFrame([("a", origin, 1.0, 1.0), ("b", origin + 14, 1.0, 1.0)], DATED_SCHEMA)
    got = windows_of(rows_of(window_cpu_mem(df, origin, warmup_windows=0, dated=True)))
    assert got == [("a", "2024-03-30 23:59:43", "2024-03-31 00:00:13"),
                   ("a", "2024-03-30 23:59:53", "2024-03-31 00:00:23"),
                   ("a", "2024-03-31 00:00:03", "2024-03-31 00:00:33"),
                   ("b", "2024-03-30 23:59:53", "2024-03-31 00:00:23"),
                   ("b", "2024-03-31 00:00:03", "2024-03-31 00:00:33"),
                   ("b", "2024-03-31 00:00:13", "2024-03-31 00:00:43")]


ND_SCHEMA = "server_id string, event_second int, net_in double, disk_io double"


@pytest.mark.parametrize("net,disk,alert", [
    (6104.83, 1839.94, "Network flood + Disk thrash suspected"),
    (6104.83, 1839.93, "Possible DDoS"),
    (6104.82, 1839.94, "Disk thrash suspected"),
    (6104.82, 1839.93, ""),
])
def test_net_disk_alerts_at_threshold_boundaries(spark, net, disk, alert):

    df = spark.createDataFrame([("s1", t("10:00:00"), net, disk)], ND_SCHEMA)
    got = rows_of(window_net_disk(df, t("10:00:00"), warmup_windows=0))
    assert {r[5] for r in got} == {alert}
    assert {r[3] for r in got} == {repr(net)}


def test_net_disk_maxima_and_text(spark):
    """Window maxima, not means; 64-bit values; no trailing '.0'; large values stay positional."""

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
    from devtools import reference

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


@pytest.mark.parametrize("dataset_name,recording_start,expected_names,time_shift", [
    # The dated folder, also sent under a time shift (taken back off by parse_records).
    (generate.DATED_FOLDER, None, (generate.DATED_EXPECTED, generate.DATED_EXPECTED_NET_DISK), 86_400 * 970 + 3_601),
    (generate.MIDNIGHT_FILE, generate.MIDNIGHT_RECORDING_START,
     (generate.MIDNIGHT_EXPECTED, generate.MIDNIGHT_EXPECTED_NET_DISK), 0),
])
def test_reference_and_spark_agree_on_the_shipped_recordings(spark, dataset_name, recording_start, expected_names,
                                                             time_shift):
    """Both shipped time-true recordings, sent as the producer sends them (event_time in UTC), parsed and
    windowed by the Spark job's transforms: byte for byte the reference's output and the shipped files."""
    from devtools import reference
    from include import dataset
    from include.paths import DATA_DIR

    cpu_file, nd_file = expected_names
    ds = dataset.load(DATA_DIR / dataset_name, recording_start)
    assert ds.dated == (recording_start is None) and ds.has_net_disk
    offset = ds.epoch_offset(datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc))
    assert offset == (0 if ds.dated else epoch("2024-03-30 00:00:00"))
    fields = ("cpu_pct", "mem_pct", "net_in", "disk_io")
    values = [json.dumps({"event_time": iso(int(ds.seconds[i]) + offset + time_shift),
                          "server_id": ds.servers[ds.server_index[i]],
                          **{f: float(ds.values[f][i]) for f in fields}}).encode() for i in range(ds.rows)]
    records = spark.createDataFrame([(v,) for v in values], "value binary")
    samples = parse_records(records, shift_seconds=time_shift + offset).cache()
    spark_cpu = csv_text(CPU_MEM_HEADER, rows_of(window_cpu_mem(samples, ds.first_second, dated=ds.dated)))
    spark_nd = csv_text(NET_DISK_HEADER, rows_of(window_net_disk(samples, ds.first_second, dated=ds.dated)))
    spec = reference.WindowSpec()
    assert spark_cpu == csv_text(CPU_MEM_HEADER, reference.cpu_mem_rows(ds, spec, 80.07, 89.36))
    assert spark_nd == csv_text(NET_DISK_HEADER, reference.net_disk_rows(ds, spec, 6104.83, 1839.94))
    assert spark_cpu.encode() == (DATA_DIR / cpu_file).read_bytes()
    assert spark_nd.encode() == (DATA_DIR / nd_file).read_bytes()
