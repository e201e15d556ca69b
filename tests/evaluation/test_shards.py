"""Shard planning and atomic, verifiable shard files.

    .venv/bin/python -m pytest tests/evaluation/test_shards.py -q
"""

from __future__ import annotations

import pytest
from t2.evaluation.shards import (
    SAMPLES_FILE,
    plan_shards,
    read_shard,
    shard_dir,
    shard_is_done,
    write_shard,
)


def test_plan_deals_sorted_ids_by_stride_and_covers_every_problem_once():
    ids = {"b": [f"b-{i}" for i in range(10)], "a": ["a-2", "a-0", "a-1"]}
    shards = plan_shards(ids, problems_per_shard=4)
    assert [(s.task, s.index, s.num_shards) for s in shards] == [
        ("a", 0, 1), ("b", 0, 3), ("b", 1, 3), ("b", 2, 3)]
    assert shards[0].problem_ids == ("a-0", "a-1", "a-2")
    b_sorted = sorted(ids["b"])
    assert shards[2].problem_ids == tuple(b_sorted[1::3])
    covered = [i for s in shards[1:] for i in s.problem_ids]
    assert sorted(covered) == b_sorted and all(len(s.problem_ids) <= 4 for s in shards)
    assert plan_shards(ids, problems_per_shard=4) == shards  # a pure function of the ids


def test_shard_key_changes_with_settings_and_problems():
    a = plan_shards({"t": ["1", "2"]}, settings="x")[0]
    assert a.key != plan_shards({"t": ["1", "2"]}, settings="y")[0].key
    assert a.key != plan_shards({"t": ["1", "3"]}, settings="x")[0].key


@pytest.mark.parametrize("ids, per, match", [
    ({"t": ["1", "1"]}, 4, "not unique"), ({"t": []}, 4, "no problems"),
    ({"t": ["1"]}, 0, "problems_per_shard"),
])
def test_bad_plans_raise_value_error(ids, per, match):
    with pytest.raises(ValueError, match=match):
        plan_shards(ids, problems_per_shard=per)


def test_a_written_shard_reads_back_and_counts_as_done_only_for_its_key(tmp_path):
    shard = plan_shards({"t": ["p1", "p2"]})[0]
    d = shard_dir(tmp_path, shard)
    assert d == tmp_path / "t" / "shard-00000"
    assert not shard_is_done(d, shard.key)
    rows = [{"problem_id": "p1", "n": 2, "c": 1}, {"problem_id": "p2", "n": 2, "c": 0}]
    write_shard(d, rows, shard.key)
    assert shard_is_done(d, shard.key) and not shard_is_done(d, "other")
    assert read_shard(d) == rows


def test_a_truncated_or_markerless_shard_is_not_done_and_is_replaced_cleanly(tmp_path):
    d = tmp_path / "t" / "shard-00000"
    write_shard(d, [{"x": 1}, {"x": 2}], "k")
    (d / SAMPLES_FILE).write_text('{"x": 1}\n')     # truncated after the marker was written
    assert not shard_is_done(d, "k")
    with pytest.raises(ValueError, match="not finished"):
        read_shard(d)
    (d / "_SUCCESS").unlink()                         # crash before the marker
    (d / "junk.tmp").write_text("half")
    assert not shard_is_done(d, "k")
    write_shard(d, [{"x": 3}], "k")
    assert shard_is_done(d, "k") and read_shard(d) == [{"x": 3}]
    assert sorted(p.name for p in d.iterdir()) == ["_SUCCESS", SAMPLES_FILE]
