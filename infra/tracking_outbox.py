"""What MLflow could not take, kept on disk and sent later: one append-only file per run directory.

    box = Outbox(run_dir)                 # {run_dir}/.mlflow-outbox.jsonl (+ .mlflow-outbox.sent)
    box.append({"op": "metrics", "run": run_id, "step": 4096, "ts": ms, "metrics": {"loss": 3.1}})
    if box.pending():
        Replay(client, "t2").send(box)        # in order; the watermark advances as records land

A record is one JSON line written with a single ``write`` on an ``O_APPEND`` descriptor, so
writers (threads, processes) never interleave and a kill -9 can only tear the last line, which
is skipped. ``.mlflow-outbox.sent`` holds how many bytes were sent; nothing is ever rewritten.
The names start with a dot, so step done-markers (t2.infra.storage) do not checksum them.

Sending is idempotent, so a replay cut short is simply repeated: params already on the run are
skipped, metric steps at or below the run's last logged step are dropped, and a run created
while the server was away (a local id ``offline-…``) carries the tag ``t2.offline_id``, by which
it is found again instead of being created twice.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from pathlib import Path

from t2.infra.storage import atomic_write

OUTBOX = ".mlflow-outbox.jsonl"
SENT = ".mlflow-outbox.sent"
LOCAL_PREFIX = "offline-"
OFFLINE_TAG = "t2.offline_id"
PARENT_TAG = "mlflow.parentRunId"
# Errors that a retry cannot fix: the record is dropped (with a warning), not kept.
PERMANENT = {"INVALID_PARAMETER_VALUE", "RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST",
             "INVALID_STATE", "BAD_REQUEST", "MALFORMED_REQUEST"}
MAX_BATCH = 1000  # MLflow's limit of values per log_batch
DATA_OPS = ("params", "metrics", "tags")

_resolved: dict[str, str] = {}  # local id -> server run id, for this process
_lock = threading.Lock()


def new_local_id() -> str:
    return LOCAL_PREFIX + uuid.uuid4().hex


def is_local(run_id: str | None) -> bool:
    return bool(run_id) and run_id.startswith(LOCAL_PREFIX)


def now_ms() -> int:
    return int(time.time() * 1000)


def is_permanent(err: BaseException) -> bool:
    return getattr(err, "error_code", None) in PERMANENT


class Unresolved(RuntimeError):
    """A local run id whose creation is neither on the server nor in this outbox (yet)."""


class Outbox:
    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / OUTBOX
        self.sent_path = Path(run_dir) / SENT
        self._checked = False

    def append(self, record: dict) -> None:
        line = (json.dumps(record, sort_keys=True, default=str) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if not self._checked:  # a torn last line (killed writer) must not swallow this one
                self._checked = True
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line
            os.write(fd, line)
        finally:
            os.close(fd)

    def sent(self) -> int:
        try:
            return int(self.sent_path.read_text().strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def pending(self) -> bool:
        try:
            return self.path.stat().st_size > self.sent()
        except FileNotFoundError:
            return False

    def unsent(self) -> list[tuple[int, dict]]:
        """(end offset, record) of each complete line not sent yet."""
        with open(self.path, "rb") as f:
            f.seek(start := self.sent())
            data = f.read()
        rows, pos = [], start
        for raw in data.split(b"\n")[:-1]:  # the piece after the last newline is torn or empty
            pos += len(raw) + 1
            try:
                rows.append((pos, json.loads(raw)))
            except ValueError:
                continue
        return rows

    def mark_sent(self, offset: int) -> None:
        atomic_write(self.sent_path, f"{offset}\n")


class Replay:
    """Sends outbox records through ``client`` (an ``MlflowClient``) into ``experiment``."""

    def __init__(self, client, experiment: str):
        self.client, self.experiment = client, experiment
        self._exp_id: str | None = None
        self._params: dict[str, set] = {}
        self._floor: dict[tuple[str, str], int] = {}
        self._new: set[str] = set()  # runs created by this replay: nothing on them to dedupe
        self._index: dict[str, str] | None = None  # local id -> server id, found by the tag

    @property
    def exp_id(self) -> str:
        if self._exp_id is None:
            self._exp_id = _experiment_id(self.client, self.experiment)
        return self._exp_id

    def resolve(self, run_id: str | None) -> str | None:
        """The server id of ``run_id`` (itself unless local); Unresolved if not created yet."""
        if not is_local(run_id):
            return run_id
        with _lock:
            if run_id in _resolved:
                return _resolved[run_id]
        if self._index is None:  # one search: every run of the experiment made offline
            self._index, token = {}, None
            while True:
                page = self.client.search_runs(
                    [self.exp_id], f"tags.`{OFFLINE_TAG}` LIKE '{LOCAL_PREFIX}%'",
                    max_results=1000, page_token=token)
                self._index.update({r.data.tags[OFFLINE_TAG]: r.info.run_id for r in page})
                token = page.token
                if not token:
                    break
        if run_id not in self._index:
            raise Unresolved(run_id)
        with _lock:
            _resolved[run_id] = self._index[run_id]
        return self._index[run_id]

    def send(self, box: Outbox, warn=print) -> None:
        """Send every unsent record in order; on an error that may pass (server away), the
        watermark stays at the first record not sent and the error propagates."""
        rows = box.unsent()
        done = box.sent()
        i = 0
        try:
            while i < len(rows):
                j = self._group(rows, i)  # consecutive metric records of one run: one batch
                try:
                    self._send([rec for _, rec in rows[i:j]])
                except Exception as err:  # classified: dropped, or kept and re-raised
                    if not is_permanent(err):
                        raise
                    warn(f"t2: MLflow rejected {rows[i][1]['op']} of run {rows[i][1]['run']} "
                         f"({str(err).splitlines()[0][:200]}); dropped")
                done, i = rows[j - 1][0], j
        finally:
            if done > box.sent():
                box.mark_sent(done)

    @staticmethod
    def _group(rows, i: int) -> int:
        """Records i..j-1 go in one call: consecutive params/metrics/tags of one run."""
        first = rows[i][1]
        j, size = i + 1, _size(first)
        while (first["op"] in DATA_OPS and j < len(rows) and rows[j][1]["op"] in DATA_OPS
               and rows[j][1]["run"] == first["run"] and size + _size(rows[j][1]) <= MAX_BATCH):
            size += _size(rows[j][1])
            j += 1
        return j

    def _send(self, recs: list[dict]) -> None:
        rec = recs[0]
        if rec["op"] == "create":
            self._create(rec)
            return
        run = self.resolve(rec["run"])
        if rec["op"] in DATA_OPS:
            self._log_batch(run, recs)
        elif rec["op"] == "artifact":
            if Path(rec["path"]).exists():
                self.client.log_artifact(run, rec["path"])
        elif rec["op"] == "finish":
            self.client.set_terminated(run, status=rec["status"], end_time=rec.get("ts"))

    def _log_batch(self, run: str, recs: list[dict]) -> None:
        """Params not on the run yet, metric steps past the run's last, tags: few calls."""
        from mlflow.entities import Metric, Param, RunTag

        params, tags = {}, {}
        for r in recs:
            params.update({k: v for k, v in r.get("params", {}).items() if k not in params})
            tags.update(r.get("tags", {}))
        if params and run not in self._params:
            self._params[run] = set() if run in self._new else set(
                self.client.get_run(run).data.params)
        params = [Param(k, v) for k, v in params.items() if k not in self._params.get(run, ())]
        metrics = [Metric(key, float(v), r["ts"], int(r["step"]))
                   for r in recs for key, v in r.get("metrics", {}).items()
                   if int(r["step"]) > self._last(run, key)]
        tags = [RunTag(k, v) for k, v in tags.items()]
        while params or metrics or tags:  # MLflow: <= 100 params, 100 tags, 1000 in all
            p, t = params[:100], tags[:100]
            m = metrics[:MAX_BATCH - len(p) - len(t)]
            self.client.log_batch(run, metrics=m, params=p, tags=t)
            params, tags, metrics = params[len(p):], tags[len(t):], metrics[len(m):]
            self._params.setdefault(run, set()).update(x.key for x in p)
            for x in m:
                self._floor[run, x.key] = max(self._floor[run, x.key], x.step)

    def _last(self, run: str, key: str) -> int:
        if (run, key) not in self._floor:
            history = [] if run in self._new else self.client.get_metric_history(run, key)
            self._floor[run, key] = max((m.step for m in history), default=-1)
        return self._floor[run, key]

    def _create(self, rec: dict) -> None:
        local = rec["run"]
        try:
            self.resolve(local)
            return  # created by an earlier replay that was cut short
        except Unresolved:
            pass
        tags = {**rec.get("tags", {}), OFFLINE_TAG: local}
        if rec.get("parent"):
            tags[PARENT_TAG] = self.resolve(rec["parent"])
        exp_id = (self.exp_id if rec.get("experiment", self.experiment) == self.experiment
                  else _experiment_id(self.client, rec["experiment"]))
        run = self.client.create_run(exp_id, start_time=rec.get("ts"),
                                     run_name=rec.get("name"), tags=tags).info.run_id
        with _lock:
            _resolved[local] = run
        self._new.add(run)


def _size(rec: dict) -> int:
    return sum(len(rec.get(k, ())) for k in DATA_OPS)


def _experiment_id(client, name: str) -> str:
    from t2.infra.tracking import experiment_id

    return experiment_id(client, name)


def resolved(run_id: str) -> str | None:
    """The server id already known in this process for a local id, else None."""
    with _lock:
        return _resolved.get(run_id)
