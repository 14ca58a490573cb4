"""Crash test of the store (issue 6): a writer pushes batches through
POST /api/v1/import/prometheus and records which were acknowledged (204, i.e. fsynced); the
agent is killed with SIGKILL at random moments and restarted, 20 times. Afterwards every
acknowledged sample is returned by the query API with its exact value, and nothing returned
was never sent.

Randomness has a fixed seed so a failure can be replayed; nothing is timed: the kill delays
only decide where a kill lands.
"""
import random
import signal
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

from vigiltest import Agent

CYCLES = 20
SERIES_PER_BATCH = 5


class CrashRecovery(unittest.TestCase):
    def test_acknowledged_samples_survive_sigkill(self):
        rng = random.Random(20261124)
        base_ms = (int(time.time()) - 3600) * 1000
        sent = {}    # (batch, k) -> value of every sample ever sent
        acked = {}   # the subset whose push was acknowledged
        batch = 0
        first = Agent()
        data_dir = first.data_dir
        agents = [first]
        try:
            agent = first
            for cycle in range(CYCLES):
                stop = threading.Event()

                def writer():
                    nonlocal batch
                    while not stop.is_set():
                        b = batch
                        batch += 1
                        lines = []
                        for k in range(SERIES_PER_BATCH):
                            v = b * 10 + k + 0.5
                            sent[(b, k)] = v
                            lines.append('crash_test{k="%d"} %r %d' % (k, v, base_ms + b * 1000))
                        req = urllib.request.Request(
                            agent.base + "/api/v1/import/prometheus",
                            data=("\n".join(lines) + "\n").encode(), method="POST",
                            headers={"Content-Type": "text/plain; version=0.0.4"})
                        try:
                            with urllib.request.urlopen(req, timeout=10) as r:
                                if r.status == 204:
                                    for k in range(SERIES_PER_BATCH):
                                        acked[(b, k)] = sent[(b, k)]
                        except (OSError, urllib.error.URLError):
                            return  # the agent died mid-request: outcome unknown

                t = threading.Thread(target=writer)
                t.start()
                time.sleep(rng.uniform(0.02, 0.3))
                agent.proc.send_signal(signal.SIGKILL)
                agent.proc.wait()
                stop.set()
                t.join()
                agent = Agent(data_dir=data_dir)
                agents.append(agent)

            self.assertGreater(len(acked), CYCLES, "the writer got too few acknowledgements")
            end_s = (base_ms + batch * 1000) / 1000 + 1
            window_s = batch + 10  # one sample a second from base_ms on
            q = urllib.parse.urlencode({"query": "crash_test[%ds]" % window_s, "time": end_s})
            doc = agent.get("/api/v1/query?" + q).json()
            returned = {}
            for series in doc["data"]["result"]:
                k = int(series["metric"]["k"])
                for t_s, v in series["values"]:
                    b = int(round(t_s * 1000 - base_ms)) // 1000
                    returned[(b, k)] = float(v)
            print("\n%d cycles: %d samples sent, %d acknowledged, %d returned"
                  % (CYCLES, len(sent), len(acked), len(returned)))
            missing = [key for key in acked if key not in returned]
            self.assertEqual(missing, [], "acknowledged samples lost")
            for key, v in acked.items():
                self.assertEqual(returned[key], v)
            invented = [key for key in returned if key not in sent or sent[key] != returned[key]]
            self.assertEqual(invented, [], "samples that were never sent")
        finally:
            for a in agents:  # the first agent's temp dir holds the data dir: clean it last
                a.stop()
            for a in reversed(agents):
                a.cleanup()


if __name__ == "__main__":
    unittest.main(verbosity=2)
