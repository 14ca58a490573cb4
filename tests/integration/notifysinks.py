"""Receivers for the notifier's end-to-end test and benchmark (standard library only): a webhook
sink and an SMTP sink on free 127.0.0.1 ports that record what arrives, the real
prometheus-alertmanager started on its own port and storage directory (stopped by PID), and
Alertmanager's fingerprint and time format to compute expected payloads.
"""
import calendar
import http.server
import json
import os
import shutil
import socketserver
import subprocess
import threading
import time
import urllib.request

from vigiltest import free_port, wait_until


class WebhookSink:
    """POSTs to http://127.0.0.1:PORT/... are kept as (path, parsed JSON, arrival time)."""

    def __init__(self):
        self.received = []
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with sink.cond:
                    sink.received.append((self.path, json.loads(body), time.time()))
                    sink.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d/hook" % self.port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def payloads(self):
        with self.lock:
            return [p for _, p, _ in self.received]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class SmtpSink:
    """Just enough of an SMTP server (RFC 5321, no TLS, no AUTH) for libcurl to deliver one
    message per connection: every message is kept as (mail from, [rcpt to], data)."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line):
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()

            def handle(self):
                self.reply("220 localhost vigil-test ESMTP")
                mail_from, rcpt = None, []
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    cmd = line.decode("utf-8", "replace").rstrip("\r\n")
                    verb = cmd[:4].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250 localhost")
                    elif verb == "MAIL":
                        mail_from, rcpt = cmd[10:].strip(), []
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        rcpt.append(cmd[8:].strip())
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 end with <CRLF>.<CRLF>")
                        data = []
                        while True:
                            l = self.rfile.readline()
                            if not l or l == b".\r\n":
                                break
                            data.append(l[1:] if l.startswith(b"..") else l)
                        with sink.lock:
                            sink.messages.append((mail_from, rcpt,
                                                  b"".join(data).decode("utf-8", "replace")))
                        self.reply("250 OK queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    elif verb in ("RSET", "NOOP"):
                        self.reply("250 OK")
                    else:
                        self.reply("502 not implemented")

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def all(self):
        with self.lock:
            return list(self.messages)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def email_headers(data):
    """The header fields of a message as a dict (unfolded), and its body."""
    head, _, body = data.replace("\r\n", "\n").partition("\n\n")
    fields = {}
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and fields:
            last = list(fields)[-1]
            fields[last] += " " + line.strip()
        elif ":" in line:
            k, v = line.split(":", 1)
            fields[k.strip()] = v.strip()
    return fields, body


class Alertmanager:
    """The real prometheus-alertmanager on a free port, clustering off; None when missing."""

    BINARY = shutil.which("prometheus-alertmanager")

    def __init__(self, tmp):
        cfg = os.path.join(tmp, "am.yml")
        with open(cfg, "w") as f:
            f.write("route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n")
        self.port = free_port()
        self.base = "http://127.0.0.1:%d" % self.port
        self.log = open(os.path.join(tmp, "am.log"), "wb")
        self.proc = subprocess.Popen(
            [self.BINARY, "--config.file", cfg, "--storage.path", os.path.join(tmp, "am-data"),
             "--web.listen-address", "127.0.0.1:%d" % self.port, "--cluster.listen-address="],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self.ready, "Alertmanager to become ready")

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("alertmanager exited: " + open(self.log.name).read())
        try:
            with urllib.request.urlopen(self.base + "/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def alerts(self, alertname):
        with urllib.request.urlopen(self.base + "/api/v2/alerts", timeout=5) as r:
            return [a for a in json.load(r) if a["labels"].get("alertname") == alertname]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def fingerprint(labels):
    """Alertmanager's LabelSet.Fingerprint(): FNV-1a 64 over the sorted names and values, each
    followed by the byte 0xff, as 16 hex digits."""
    h = 14695981039346656037
    for name in sorted(labels):
        for part in (name.encode(), b"\xff", labels[name].encode(), b"\xff"):
            for byte in part:
                h ^= byte
                h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h


def go_time(ms):
    """A time in ms as Go's time.Time JSON encoding writes it in UTC (trailing zeros of the
    fraction dropped)."""
    s = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
    frac = ("%03d" % (ms % 1000)).rstrip("0")
    return s + ("." + frac if frac else "") + "Z"


def parse_time_ms(text):
    """RFC 3339 in UTC ("...Z", any fraction) to ms since the epoch."""
    base, _, rest = text.rstrip("Z").partition(".")
    secs = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    frac = (rest + "000")[:3] if rest else "000"
    return int(secs) * 1000 + int(frac)
