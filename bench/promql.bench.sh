#!/bin/sh
# promql.*: vigil's PromQL against the real Prometheus on the same data (see the .py file).
exec python3 "$(dirname "$0")/promql_compare.py"
