#!/bin/sh
# agent.startup_ms / agent.shutdown_ms: vigil against the real Prometheus (see the .py file).
exec python3 "$(dirname "$0")/agent_lifecycle.py"
