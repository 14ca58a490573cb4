#!/bin/sh
# collect.agent_idle / collect.agent_rss: vigil run against node_exporter scraped by the real
# Prometheus, over one shared 60 s window (see the .py file).
exec python3 "$(dirname "$0")/collect_agent.py"
