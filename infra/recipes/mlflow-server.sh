#!/usr/bin/env bash
# An MLflow tracking server with a database backend and an artifact store, for a cluster study.
#   infra/recipes/mlflow-server.sh postgresql://mlflow:PASS@db:5432/mlflow s3://bucket/mlflow
# Then set `tracking.uri: http://HOST:5000` in the study file (or export MLFLOW_TRACKING_URI).
# Binds to 127.0.0.1 unless MLFLOW_HOST is set: expose it deliberately (behind auth/a tunnel).
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
