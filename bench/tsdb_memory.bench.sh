#!/bin/sh
# tsdb.memory_per_series: RSS per head series, vigil vs the real Prometheus (see the .py file).
exec python3 "$(dirname "$0")/tsdb_memory.py"
