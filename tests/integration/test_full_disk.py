"""A full disk (issue 6): the agent's data directory on a small tmpfs. Pushes fail with 503 and
a clear error once it is full; the agent keeps serving; when space returns (the tmpfs is
remounted larger) pushes succeed again, and after a restart every acknowledged sample is there.

Needs root for mount(8); without it the test is skipped with that reason.
"""
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse

from vigiltest import Agent


def push(agent, body):
    return agent.post("/api/v1/import/prometheus", body.encode(),
                      headers={"Content-Type": "text/plain; version=0.0.4"})


class FullDisk(unittest.TestCase):
    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        self.mnt = tempfile.mkdtemp(prefix="vigil-fulldisk-")
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", self.mnt],
                           capture_output=True, text=True)
        if p.returncode != 0:
            os.rmdir(self.mnt)
            self.skipTest("cannot mount a tmpfs here: " + p.stderr.strip())

    def tearDown(self):
        subprocess.run(["umount", self.mnt], capture_output=True)
        shutil.rmtree(self.mnt, ignore_errors=True)

    def test_pushes_fail_cleanly_and_recover(self):
        data = os.path.join(self.mnt, "data")
        base_ms = (int(time.time()) - 3600) * 1000
        acked = {}
        agent = Agent("--collect.interval=1h", data_dir=data)
        try:
            # Long label values fill the WAL quickly; each push is one new series.
            pad = "x" * 3000
            failure = None
            for i in range(5000):
                r = push(agent, 'fill{i="%d",pad="%s"} %d %d\n' % (i, pad, i, base_ms + i))
                if r.status == 204:
                    acked[i] = i
                    continue
                failure = r
                break
            self.assertIsNotNone(failure, "the 4 MiB tmpfs never filled up")
            self.assertEqual(failure.status, 503)
            self.assertEqual(failure.json()["errorType"], "unavailable")
            self.assertIn("samples not stored durably", failure.json()["error"])
            self.assertEqual(agent.get("/-/healthy").status, 200)

            subprocess.run(["mount", "-o", "remount,size=64m", self.mnt], check=True)
            i = len(acked) + 1
            r = push(agent, 'fill{i="%d",pad="%s"} %d %d\n' % (i, pad, i, base_ms + i))
            self.assertEqual(r.status, 204, r.body)
            acked[i] = i
            agent.cleanup()
            agent = Agent(data_dir=data)
            q = urllib.parse.urlencode({"query": "fill[2h]", "time": base_ms / 1000 + 3600})
            doc = agent.get("/api/v1/query?" + q).json()
            got = {int(s["metric"]["i"]): float(s["values"][0][1]) for s in doc["data"]["result"]}
            for k, v in acked.items():
                self.assertEqual(got.get(k), v, "acknowledged sample %d lost" % k)
        finally:
            agent.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
