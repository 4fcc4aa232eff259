"""Starts `adallava serve` on a free loopback port for the Python and browser tests."""
import json
import re
import subprocess
import time
import urllib.request


class Serve:
    def __init__(self, binary, model, *extra):
        self.proc = subprocess.Popen([binary, "serve", "-m", model, "--port", "0", "-t", "2", *extra],
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        m = re.search(r"http://([\d.]+):(\d+)", line)
        if not m:
            self.proc.kill()
            raise RuntimeError("serve did not start: " + line + self.proc.stderr.read())
        self.url = "http://%s:%s" % (m.group(1), m.group(2))
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/health") as r:
                    if r.status == 200:
                        return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("serve never became ready")

    def post(self, body, headers=None):
        req = urllib.request.Request(self.url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json", **(headers or {})})
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    def stop(self):
        self.proc.terminate()
        code = self.proc.wait(timeout=30)
        self.proc.stderr.close()
        return code
