"""Helpers for the notify integration tests (Python standard library only)."""
import os
import shutil
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "seeds", "configs",
                                     "guardian-alertmanager.yml"))


def driver():
    path = os.environ.get("NOTIFY_DRIVER")
    if not path or not os.access(path, os.X_OK):
        sys.exit("NOTIFY_DRIVER must name the built tests/notify driver")
    return path


def free_port():
    """A port the kernel just gave out on 127.0.0.1 (closed again for the caller to bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TempDir:
    """A temporary directory removed on exit, whatever happened."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="vigil-notify-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def stop(proc):
    """Stops a process we started, by its PID, and reaps it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
