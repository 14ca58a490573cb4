#!/bin/sh
# rules.notify_latency: from a sample crossing a rule's threshold to the webhook (see the .py).
exec python3 "$(dirname "$0")/rules_notify.py"
