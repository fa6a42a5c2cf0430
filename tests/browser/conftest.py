"""The browser tests' stack, all on loopback, each part on an origin of its own:

- LocalStack (S3 + SQS) on one port, its bucket's CORS rule made by the init script from the
  page's origins (as `make dev` and the SAM template do);
- `reportq serve` twice: the API every flow uses, and one whose inline PDF limit is 1 KB (so
  the PDF route answers a 303 to S3, as a PDF over 4 MiB does), both allowing the page's origin;
- `reportq worker`, started and stopped by the tests that need it so;
- a static server with the page (assets/web) and the DiAGRAM-like test page, on a listed
  origin and on an origin the API does not list;
- headless Chromium (Debian's), driven by selenium through Debian's chromedriver.

Screenshots: tests call `shots("step")`; on a failure the test's screenshots are kept under
target/browser-artifacts/TEST/ (CI uploads that folder), on success they are thrown away.
"""
import base64
import functools
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("REPORTQ_BIN", os.path.join(ROOT, "target", "release", "reportq"))
ARTIFACTS = os.environ.get("REPORTQ_BROWSER_ARTIFACTS", os.path.join(ROOT, "target", "browser-artifacts"))
MODEL = os.path.join(ROOT, "tests", "fixtures", "diagram-like.bif")
# How long the PDF route waits before answering 503: short, so the no-worker test is quick.
PDF_WAIT_SECS = "4"


def run(args, **kw):
    """A set-up command; its error output is part of the failure."""
    r = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return r


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, proc=None, log=None, seconds=30):
    until = time.time() + seconds
    while time.time() < until:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited ({proc.returncode}); log:\n{open(log).read()[-3000:] if log else ''}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {seconds} s")


def http_json(method, url, body=None, headers=None):
    """(status, headers, parsed JSON or None) of one plain HTTP call (no browser)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict({"content-type": "application/json"} if data else {}, **(headers or {})))
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            raw, status, hdrs = r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        raw, status, hdrs = e.read(), e.code, e.headers
    try:
        return status, hdrs, json.loads(raw)
    except ValueError:
        return status, hdrs, None


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def static_server(directory):
    handler = functools.partial(Quiet, directory=directory)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_address[1]}"


class Stack:
    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []
        self.worker_proc = None
        self.ls_state = None
        self.page_srv = self.other_srv = None
        try:
            self._start()
        except BaseException:
            self.close()  # whatever did start (LocalStack above all) must not outlive the run
            raise

    def _start(self):
        tmp = self.tmp
        site = os.path.join(tmp, "site")
        os.makedirs(site)
        for d in (os.path.join(ROOT, "assets", "web"), os.path.join(ROOT, "tests", "browser")):
            for f in os.listdir(d):
                if f.endswith((".html", ".js")):
                    shutil.copy(os.path.join(d, f), site)
        self.page_srv, self.page = static_server(site)
        self.other_srv, self.other = static_server(site)
        self.api_port, self.redirect_port, self.worker_metrics_port = free_port(), free_port(), free_port()
        self.keyed_port = free_port()
        self.api_keyed = f"http://127.0.0.1:{self.keyed_port}"
        self.worker_metrics = f"http://127.0.0.1:{self.worker_metrics_port}/metrics"
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.api_redirect = f"http://127.0.0.1:{self.redirect_port}"
        origins = ",".join([self.page, self.api])

        state = os.path.join(tmp, "localstack")
        self.ls_state = state  # set first: a start that fails half-way is still stopped
        out = run([os.path.join(ROOT, "scripts", "localstack.sh"), "start", state])
        self.env = dict(os.environ, AWS_REGION="us-east-1", AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                        REPORTQ_CORS_ORIGINS=origins, REPORTQ_DIAGRAM_MODEL=MODEL, REPORTQ_PDF_WAIT_SECS=PDF_WAIT_SECS,
                        REPORTQ_POLL_WAIT_SECS="1", REPORTQ_LOG_FORMAT="json", RUST_LOG="info",
                        # The init script makes a delivery queue; the worker signs with this.
                        REPORTQ_WEBHOOK_SECRETS="whsec_" + base64.b64encode(os.urandom(32)).decode())
        self.env.pop("REPORTQ_INLINE_PDF_MAX_BYTES", None)
        for line in out.stdout.splitlines():
            k, _, v = line.partition("=")
            if k == "AWS_ENDPOINT_URL":
                self.env[k] = v
        self.s3 = self.env["AWS_ENDPOINT_URL"]
        init = run([os.path.join(ROOT, "scripts", "localstack.sh"), "init", state], env=self.env)
        for line in init.stdout.splitlines():
            k, _, v = line.partition("=")
            if k.startswith("REPORTQ_"):
                self.env[k] = v
        self.serve(self.api_port, {"REPORTQ_METRICS": "emf"})
        self.serve(self.redirect_port, {"REPORTQ_INLINE_PDF_MAX_BYTES": "1000"})
        # As deployed: the /v1 routes need a key, made the way an operator makes one.
        self.serve(self.keyed_port, {"REPORTQ_AUTH": "keys"})
        self.key = run([BIN, "keys", "create", "--name", "browser", "--scopes", "submit,read"], env=self.env).stdout.strip()

    def spawn(self, name, args, extra):
        log = os.path.join(self.tmp, f"{name}.log")
        # Appending: a restarted worker keeps its earlier lines (the telemetry tests read them all).
        p = subprocess.Popen([BIN, *args], env=dict(self.env, **extra), stdout=open(log, "a"), stderr=subprocess.STDOUT, cwd=ROOT)
        self.procs.append(p)
        return p, log

    def serve(self, port, extra):
        p, log = self.spawn(f"serve-{port}", ["serve", "--listen", f"127.0.0.1:{port}"], extra)
        wait_http(f"http://127.0.0.1:{port}/healthz", p, log)

    def start_worker(self):
        if self.worker_proc is None or self.worker_proc.poll() is not None:
            # EMF on, as on Lambda: the telemetry tests check its documents.
            self.worker_proc, log = self.spawn("worker", ["worker"], {"REPORTQ_METRICS": "emf", "REPORTQ_METRICS_LISTEN": f"127.0.0.1:{self.worker_metrics_port}"})
            wait_http(self.worker_metrics, self.worker_proc, log)

    def stop_worker(self):
        if self.worker_proc is not None and self.worker_proc.poll() is None:
            self.worker_proc.send_signal(signal.SIGTERM)
            self.worker_proc.wait(30)
        self.worker_proc = None

    def log_lines(self):
        """(file, line) for every line every process of the stack has written so far."""
        out = []
        for f in sorted(os.listdir(self.tmp)):
            if f.endswith(".log"):
                with open(os.path.join(self.tmp, f), encoding="utf-8", errors="replace") as fh:
                    out += [(f, line.rstrip("\n")) for line in fh if line.strip()]
        return out

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if self.ls_state:
            subprocess.run([os.path.join(ROOT, "scripts", "localstack.sh"), "stop", self.ls_state], cwd=ROOT)
        for srv in (self.page_srv, self.other_srv):
            if srv is not None:
                srv.shutdown()


@pytest.fixture(scope="session")
def stack():
    tmp = tempfile.mkdtemp(prefix="reportq-browser-")
    s = Stack(tmp)
    try:
        yield s
    finally:
        s.close()
        if os.environ.get("REPORTQ_KEEP_BROWSER_LOGS"):
            print(f"browser test logs in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def browser():
    os.environ.setdefault("SE_OFFLINE", "true")  # never let selenium download a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("REPORTQ_CHROMIUM", "/usr/lib/chromium/chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000", "--disable-gpu"):
        opts.add_argument(a)
    d = webdriver.Chrome(options=opts, service=Service(os.environ.get("REPORTQ_CHROMEDRIVER", "/usr/bin/chromedriver")))
    d.set_script_timeout(90)
    try:
        yield d
    finally:
        d.quit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item.failed_call = rep.failed


@pytest.fixture
def shots(request, browser, tmp_path):
    """shots("name") saves a screenshot; kept in target/browser-artifacts/ only if the test fails."""
    taken = []

    def shot(name):
        path = tmp_path / f"{len(taken):02}-{name}.png"
        browser.save_screenshot(str(path))
        taken.append(path)

    yield shot
    if getattr(request.node, "failed_call", False):
        try:
            shot("at-failure")
        except Exception:
            pass
        dest = os.path.join(ARTIFACTS, request.node.name)
        os.makedirs(dest, exist_ok=True)
        for p in taken:
            shutil.copy(p, dest)
        print(f"screenshots kept in {dest}", file=sys.stderr)


def call(browser, fn, *args):
    """Runs one of the DiAGRAM page's functions (fn(args..., done)) and returns what it reported."""
    return browser.execute_async_script(
        f"var done = arguments[arguments.length - 1]; {fn}.apply(null, Array.prototype.slice.call(arguments, 0, -1).concat([done]));",
        *args)
