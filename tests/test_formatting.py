"""Rounding and number text as the seed wrote them; atomic writes; path resolution; message values."""

from __future__ import annotations

from decimal import Decimal

from include.formatting import csv_text, float32_text, float64_text, round_half_up
from include.paths import PROJECT_ROOT, output_dir_for, resolve, write_atomically
from include.producer import json_number, producer_config


def test_half_up_on_the_decimal_text():
    assert round_half_up(0.125) == Decimal("0.13")
    assert round_half_up(2.675) == Decimal("2.68")  # binary 2.67499..., but its text is 2.675
    assert round_half_up(1.005) == Decimal("1.01")
    assert round_half_up(-1.005) == Decimal("-1.01")
    assert round_half_up(57.904) == Decimal("57.90")


def test_shortest_text_without_trailing_zero():
    assert [float32_text(Decimal(x)) for x in ("57.90", "47.00", "58.47", "0", "100", "0.1")] == [
        "57.9", "47", "58.47", "0", "100", "0.1"]
    assert float64_text(Decimal("6104.83")) == "6104.83" and float64_text(Decimal("123456789.00")) == "123456789"


def test_csv_text_lf_and_empty_alert():
    assert csv_text(("a", "b"), [("1", ""), ("x,y", "2")]) == 'a,b\n1,\n"x,y",2\n'


def test_atomic_write_replaces_and_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out.csv"
    write_atomically(target, "one\n")
    write_atomically(target, "two\n")
    assert target.read_text() == "two\n" and [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_paths():
    assert resolve("data/x y.csv") == PROJECT_ROOT / "data" / "x y.csv"
    assert resolve("/abs/p.csv").as_posix() == "/abs/p.csv"
    default = output_dir_for(None, "manual__2026-11-25T02:00:00+00:00")
    assert default.parent == PROJECT_ROOT / "output" and ":" not in default.name and "+" not in default.name
    assert output_dir_for("output/x", "r") == PROJECT_ROOT / "output" / "x"


def test_message_numbers_and_enforced_delivery_settings():
    assert json_number("cpu_pct", 47.0) == "47.0" and json_number("net_in", 1234.0) == "1234"
    cfg = producer_config({"bootstrap.servers": "h:1", "acks": "0", "enable.idempotence": False, "linger.ms": 1})
    assert cfg["acks"] == "all" and cfg["enable.idempotence"] is True and cfg["linger.ms"] == 1


def test_kafka_cluster_ids_never_look_like_options():
    from devtools.kafka import new_cluster_id

    ids = [new_cluster_id() for _ in range(2000)]
    assert all(len(i) == 22 and i[0].isalnum() for i in ids)
