"""A tracking store that cannot be reached: one warning per outage, short timeouts, no storms.

    from t2.infra.tracking_outage import OUTAGE, http_env
    if not OUTAGE.recent(uri):                  # skip a store that failed less than RETRY_S ago
        try:
            with http_env(uri):                 # MLflow HTTP: seconds to give up, not minutes
                client.log_batch(run_id, metrics=items)
        except Exception as err:
            OUTAGE.failed(uri, err)             # the first failure prints one line on stderr

``http_env`` sets ``HTTP_DEFAULTS`` (only those not already in the environment, so a user's
own settings win) while any call inside it is in flight, and removes them after the last one.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
from contextlib import contextmanager

RETRY_S = 30.0  # after a failed call, skip the server this long before trying it again
MAX_RETRY_S = 300.0  # an offline tracker doubles its wait between tries up to this
# A dead server costs < 1 s per call (a hung one 10 s) instead of minutes; no "View run at"
# line (and its extra request) per finished run.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                 "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
                 "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}


def warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def first_line(err: BaseException) -> str:
    """What went wrong, short: "Connection refused" rather than urllib3's retry report."""
    text = str(err).strip()
    errno = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if errno:
        return errno.group(1).strip()
    if "timed out" in text.lower():
        return "no answer in time"
    return f"{type(err).__name__}: {text.splitlines()[0][:160] if text else ''}"


class Outage:
    """Stores that failed lately (per URI): one warning per outage, no retry storm."""

    def __init__(self):
        self._down: dict[str, float] = {}
        self._lock = threading.Lock()

    def failed(self, uri: str, err: BaseException) -> None:
        with self._lock:
            first = uri not in self._down
            self._down[uri] = time.monotonic()
        if first:
            warn(f"t2: MLflow at {uri} unreachable ({first_line(err)}); tracking goes to "
                 f"outbox files and is sent when it is back (rerun the command)")

    def ok(self, uri: str) -> None:
        if uri in self._down:
            with self._lock:
                was = self._down.pop(uri, None)
            if was is not None:
                warn(f"t2: MLflow at {uri} reachable again")

    def reset(self) -> None:
        """Forget past failures (tests: a process that has seen no outage)."""
        with self._lock:
            self._down.clear()

    def recent(self, uri: str) -> bool:
        since = self._down.get(uri)
        return since is not None and time.monotonic() - since < RETRY_S


OUTAGE = Outage()
_env_lock = threading.Lock()
_env_users = 0
_env_set: list[str] = []


class _QuietRetries(logging.Filter):
    """urllib3's per-retry warnings about MLflow endpoints (the outage is reported once)."""

    def filter(self, record):
        return "/mlflow" not in str(record.msg) + str(record.args)


@contextmanager
def http_env(uri: str):
    """Short MLflow HTTP timeouts and retries while any call of ours to ``uri`` runs."""
    global _env_users
    if not uri.startswith(("http://", "https://")):
        yield
        return
    with _env_lock:
        if _env_users == 0:
            _env_set[:] = [k for k in HTTP_DEFAULTS if k not in os.environ]
            os.environ.update({k: HTTP_DEFAULTS[k] for k in _env_set})
            pool = logging.getLogger("urllib3.connectionpool")
            if not any(isinstance(f, _QuietRetries) for f in pool.filters):
                pool.addFilter(_QuietRetries())
        _env_users += 1
    try:
        yield
    finally:
        with _env_lock:
            _env_users -= 1
            if _env_users == 0:
                for k in _env_set:
                    os.environ.pop(k, None)
