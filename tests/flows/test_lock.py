"""Two drivers on one study: the second refuses; a dead driver's lock is taken over."""

import os
import signal
import subprocess
import sys

import pytest
from t2.flows.lock import study_lock
from t2.infra.config import ConfigError

HOLD = """
import sys, time
from t2.flows.lock import study_lock
with study_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""


def _hold_in_subprocess(root):
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(root)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_driver_on_a_running_study_refuses_with_the_holder_named(tmp_path):
    proc = _hold_in_subprocess(tmp_path)
    try:
        busy = rf"another t2 driver is running this study \(pid {proc.pid} "
        with pytest.raises(ConfigError, match=busy), study_lock(tmp_path):
            pass
    finally:
        proc.kill()
        proc.wait()


def test_the_lock_of_a_killed_driver_is_taken_over(tmp_path):
    proc = _hold_in_subprocess(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    said = []
    with study_lock(tmp_path, log=said.append) as me:
        assert me["pid"] == os.getpid()
    assert said and f"pid {proc.pid}" in said[0]


def test_a_cleanly_released_lock_is_reused_silently(tmp_path):
    said = []
    with study_lock(tmp_path, log=said.append):
        pass
    with study_lock(tmp_path, log=said.append):
        pass
    assert said == []
