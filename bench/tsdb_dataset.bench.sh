#!/bin/sh
# tsdb.bytes_per_sample: the real-host dataset in vigil's blocks vs promtool's (see the .py file).
exec python3 "$(dirname "$0")/tsdb_dataset.py"
