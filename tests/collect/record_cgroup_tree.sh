#!/bin/sh
# Records the cgroup files the "cgroup" collector reads (and nothing else) from this machine's
# /sys/fs/cgroup into DEST/sys/fs/cgroup, for tests/collect/test_collect_cgroup.c.
#   tests/collect/record_cgroup_tree.sh tests/collect/fixtures/cgroup-v1
set -eu
dest=${1:?usage: record_cgroup_tree.sh DEST}
mkdir -p "$dest" && dest=$(cd "$dest" && pwd)
src=/sys/fs/cgroup
files="cgroup.controllers cpu.stat cpuacct.usage cpuacct.stat memory.current memory.max
memory.usage_in_bytes memory.limit_in_bytes memory.stat io.stat
blkio.throttle.io_service_bytes_recursive blkio.throttle.io_serviced_recursive
cpu.pressure memory.pressure io.pressure"
cd "$src"
find . -mindepth 1 -type d | while read -r dir; do
    for f in $files; do
        # The tmpfs of a v1/hybrid layout has no cgroup.controllers: only real cgroup files.
        [ -f "$dir/$f" ] || continue
        mkdir -p "$dest/sys/fs/cgroup/$dir"
        cat "$dir/$f" > "$dest/sys/fs/cgroup/$dir/$f" 2>/dev/null || rm -f "$dest/sys/fs/cgroup/$dir/$f"
    done
done
