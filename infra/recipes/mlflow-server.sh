#!/usr/bin/env bash
# An MLflow tracking server with a database backend and an artifact store, for a cluster study.
#   infra/recipes/mlflow-server.sh postgresql://mlflow:PASS@db:5432/mlflow s3://bucket/mlflow
# Then set `tracking.uri: http://HOST:5000` in the study file (or export MLFLOW_TRACKING_URI).
# Binds to 127.0.0.1 unless MLFLOW_HOST is set: expose it deliberately (behind auth/a tunnel).
# If the server stops, studies and training runs go on: what they could not log waits in
# .mlflow-outbox.jsonl files of their run directories. Restart it on the same backend store and
# port, then rerun the same t2 command: the runs are completed, none duplicated.
set -euo pipefail
backend="${1:-sqlite:///$PWD/mlflow-server/mlflow.db}"
artifacts="${2:-$PWD/mlflow-server/artifacts}"
mkdir -p "$PWD/mlflow-server"
exec mlflow server \
  --backend-store-uri "$backend" \
  --artifacts-destination "$artifacts" \
  --host "${MLFLOW_HOST:-127.0.0.1}" \
  --port "${MLFLOW_PORT:-5000}" \
  --workers "${MLFLOW_WORKERS:-2}"
