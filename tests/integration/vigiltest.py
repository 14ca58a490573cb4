"""Shared helpers of the integration tests: start the real vigil binary on a free 127.0.0.1
port with a temporary data directory, talk HTTP to it, stop it by PID.

Standard library only. Nothing here measures time: waits poll with a generous deadline and a
test fails only when the awaited thing never happens.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

VIGIL = os.environ.get("VIGIL_BIN", os.path.join(os.path.dirname(__file__), "../../build/vigil"))
DEADLINE_S = 30.0


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, what, deadline_s=DEADLINE_S):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("gave up waiting for " + what)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8")


def request(url, method="GET", body=None, headers=None, timeout=10):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Response(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, e.headers, e.read())


class Agent:
    """One `vigil run` process. Use as a context manager; stop() sends SIGTERM by PID."""

    def __init__(self, *args, data_dir=None, port=None, wait=True, env=None):
        self.tmp = tempfile.mkdtemp(prefix="vigil-it-")
        self.data_dir = data_dir or os.path.join(self.tmp, "data")
        self.port = port or free_port()
        self.log_path = os.path.join(self.tmp, "agent.log")
        self.args = [VIGIL, "run", "--listen", "127.0.0.1:%d" % self.port,
                     "--data", self.data_dir] + list(args)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **(env or {})))
        if wait:
            wait_until(self.ready, "agent on port %d to become ready" % self.port)

    @property
    def base(self):
        return "http://127.0.0.1:%d" % self.port

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("agent exited with %s:\n%s" % (self.proc.returncode,
                                                               self.log_text()))
        try:
            return request(self.base + "/-/ready", timeout=2).status == 200
        except OSError:
            return False

    def get(self, path, **kw):
        return request(self.base + path, **kw)

    def post(self, path, body=b"", **kw):
        return request(self.base + path, method="POST", body=body, **kw)

    def log_text(self):
        if self.log.closed:
            return self.final_log
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_lines(self):
        return [json.loads(l) for l in self.log_text().splitlines() if l.startswith("{")]

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=DEADLINE_S):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=DEADLINE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.final_log = self.log_text()
            self.log.close()

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()


def run_vigil(*args, timeout=DEADLINE_S, **kw):
    """Runs a short-lived vigil command; returns CompletedProcess with text output."""
    return subprocess.run([VIGIL] + list(args), capture_output=True, text=True,
                          timeout=timeout, **kw)
