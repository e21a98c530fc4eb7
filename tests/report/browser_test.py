#!/usr/bin/python3
"""Opens the HTML report of a fabricated run in headless Chromium and checks what a user would see.

Builds a demo run (make_demo_run), its report (`lrpflow report`), then drives Chromium through
chromedriver's WebDriver HTTP API (standard library only: no selenium) to open the run page, a
second list page and two item pages from file:// URLs. On each page it scrolls to the bottom so
that lazy images load, and fails when an <img> did not load (complete and naturalWidth > 0), when
an expected placeholder is not visible, or when the browser console logged a SEVERE entry.
Screenshots are saved in the work directory and their paths printed.

chromedriver and Chromium are stopped in every case (success, failure, timeout, Ctrl-C), and the
whole test stops itself after OVERALL_TIMEOUT_S. Every process the test starts carries a marker in
its environment; a process still carrying it after the browser was stopped (tests/common/processes.sh
finds them) is killed and fails the test. Missing Chromium is a failure, not a skip: the
report's browser check is part of the test suite (tools/install-deps.sh installs chromium and
chromium-driver).
"""
import argparse
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

PROCESSES_HELPER = Path(__file__).resolve().parent.parent / "common" / "processes.sh"
MARKER = f"lrpflow-test-{os.getpid()}-{time.time_ns()}"
CHILD_ENV = dict(os.environ, LRPFLOW_TEST_MARKER=MARKER)  # for every process the test starts
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
OVERALL_TIMEOUT_S = 150
HTTP_TIMEOUT_S = 30
IMAGE_WAIT_S = 20


class Failure(Exception):
    pass


def on_alarm(signum, frame):
    raise Failure(f"timed out after {OVERALL_TIMEOUT_S} s")


def on_terminate(signum, frame):
    raise Failure(f"stopped by signal {signum}")


def http(method, url, body=None, timeout=HTTP_TIMEOUT_S):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = json.load(response)
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")
        try:
            detail = json.loads(detail)["value"]["message"]
        except (ValueError, KeyError, TypeError):
            pass
        raise Failure(f"WebDriver {method} {url} failed ({e.code}): {detail}") from None
    except (urllib.error.URLError, OSError) as e:
        raise Failure(f"WebDriver {method} {url} failed: {e}") from None
    return payload.get("value")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(command, timeout, expect_code=0):
    print("+ " + " ".join(str(c) for c in command), flush=True)
    try:
        done = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=timeout, env=CHILD_ENV)
    except subprocess.TimeoutExpired:
        raise Failure(f"{command[0]} did not finish within {timeout} s") from None
    if done.returncode != expect_code:
        raise Failure(f"{command[0]} exited with {done.returncode} (expected {expect_code}):\n"
                      f"{done.stdout}{done.stderr}")
    return done


class Browser:
    """One chromedriver process and one WebDriver session in headless Chromium."""

    def __init__(self, work_dir):
        self.profile = tempfile.mkdtemp(prefix="lrpflow-report-chromium-")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.session = None
        self.log_path = work_dir / "chromedriver.log"
        # A session of its own: the whole process group (driver and browser) can be stopped at once.
        self.driver = subprocess.Popen([CHROMEDRIVER, f"--port={self.port}", f"--log-path={self.log_path}"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                                       env=CHILD_ENV)

    def start(self):
        deadline = time.monotonic() + 20
        while True:
            if self.driver.poll() is not None:
                raise Failure(f"chromedriver exited with {self.driver.returncode} (log: {self.log_path})")
            try:
                if http("GET", self.base + "/status", timeout=2).get("ready"):
                    break
            except Failure:
                pass
            if time.monotonic() > deadline:
                raise Failure(f"chromedriver did not become ready on port {self.port} (log: {self.log_path})")
            time.sleep(0.2)
        args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", f"--user-data-dir={self.profile}", "--window-size=1280,1400"]
        capabilities = {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
            "timeouts": {"pageLoad": 30000, "script": 10000},
        }
        value = http("POST", self.base + "/session", {"capabilities": {"alwaysMatch": capabilities}}, timeout=60)
        self.session = f"{self.base}/session/{value['sessionId']}"
        print(f"chromium {value['capabilities'].get('browserVersion', '?')} via chromedriver on port {self.port}")

    def execute(self, script, *args):
        return http("POST", self.session + "/execute/sync", {"script": script, "args": list(args)})

    def open(self, url):
        http("POST", self.session + "/url", {"url": url}, timeout=60)

    def console(self):
        return http("POST", self.session + "/se/log", {"type": "browser"}) or []

    def screenshot(self, path):
        path.write_bytes(base64.b64decode(http("GET", self.session + "/screenshot")))
        print(f"screenshot: {path}")

    def stop(self):
        if self.session:
            try:
                http("DELETE", self.session, timeout=10)
            except Failure as e:
                print(f"note: closing the session failed: {e}")
            self.session = None
        if self.driver.poll() is None:
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.driver.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.driver.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        shutil.rmtree(self.profile, ignore_errors=True)


def processes_left():
    """The processes started by this test that still run, as (pid, command line)."""
    listing = subprocess.run(["bash", str(PROCESSES_HELPER), MARKER], capture_output=True, text=True, timeout=30)
    if listing.returncode != 0:
        raise Failure(f"{PROCESSES_HELPER} failed: {listing.stderr}")
    return [tuple(line.split(" ", 1)) for line in listing.stdout.splitlines() if line]


def check_no_processes_left():
    """Waits up to 5 s for stragglers, then kills what is left and fails."""
    deadline = time.monotonic() + 5
    while (left := processes_left()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid, _ in left:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    if left:
        raise Failure("the test left these processes running (now killed):\n  " +
                      "\n  ".join(f"{pid} {command}" for pid, command in left))


def check_page(browser, page, screenshot, min_images, min_placeholders=0):
    print(f"checking {page}")
    browser.open(page.as_uri())
    # Scroll down a half screen at a time: lazy images only load near the viewport.
    height = browser.execute("return document.documentElement.scrollHeight")
    step = max(200, browser.execute("return window.innerHeight") // 2)
    for y in range(0, height + step, step):
        browser.execute("window.scrollTo(0, arguments[0])", y)
        time.sleep(0.05)
    deadline = time.monotonic() + IMAGE_WAIT_S
    while browser.execute("return Array.from(document.images).some(i => !i.complete)"):
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    images = browser.execute(
        "return Array.from(document.images).map(i => ({src: i.getAttribute('src'), complete: i.complete,"
        " width: i.naturalWidth}))")
    broken = [i["src"] for i in images if not i["complete"] or i["width"] <= 0]
    problems = []
    if broken:
        problems.append(f"{len(broken)} image(s) did not load: {broken}")
    if len(images) < min_images:
        problems.append(f"expected at least {min_images} images, found {len(images)}")
    if min_placeholders:
        visible = browser.execute(
            "return Array.from(document.querySelectorAll('.missing'))"
            ".filter(e => e.getBoundingClientRect().height > 20 && e.textContent.includes('missing')).length")
        if visible < min_placeholders:
            problems.append(f"expected {min_placeholders} visible placeholders for missing files, found {visible}")
    severe = [e for e in browser.console() if e.get("level") == "SEVERE"]
    for entry in severe:
        problems.append(f"console: {entry.get('message')}")
    browser.execute("window.scrollTo(0, 0)")
    browser.screenshot(screenshot)
    print(f"  {len(images) - len(broken)} of {len(images)} images loaded, {len(severe)} console errors")
    if problems:
        raise Failure(f"{page}:\n  " + "\n  ".join(problems))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--make-demo-run", required=True, type=Path, help="the make_demo_run executable")
    parser.add_argument("--lrpflow", required=True, type=Path, help="the lrpflow executable")
    parser.add_argument("--work-dir", required=True, type=Path, help="where the run and screenshots go")
    args = parser.parse_args()

    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if missing:
        print(f"FAIL: {' and '.join(missing)} not installed; run tools/install-deps.sh "
              "(it installs the Debian packages chromium and chromium-driver)", file=sys.stderr)
        return 1

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_terminate)
    signal.signal(signal.SIGINT, on_terminate)
    signal.alarm(OVERALL_TIMEOUT_S)
    browser = None
    try:
        run_dir = args.work_dir / "run"
        shutil.rmtree(run_dir, ignore_errors=True)
        args.work_dir.mkdir(parents=True, exist_ok=True)
        run([args.make_demo_run, run_dir, 12], timeout=60)
        run([args.lrpflow, "report", run_dir, "--items-per-page", 5], timeout=60)
        run([args.lrpflow, "report", args.work_dir / "no_such_run"], timeout=30, expect_code=2)
        report = run_dir / "report"

        browser = Browser(args.work_dir)
        browser.start()
        check_page(browser, report / "index.html", args.work_dir / "run_page.png", min_images=4)
        check_page(browser, report / "items-2.html", args.work_dir / "list_page_2.png", min_images=5)
        check_page(browser, report / "items" / "img_0.html", args.work_dir / "item_page.png", min_images=8)
        check_page(browser, report / "items" / "img_2.html", args.work_dir / "item_missing_files.png",
                   min_images=1, min_placeholders=2)
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        failed = True
    else:
        failed = False
    finally:
        signal.alarm(0)
        if browser:
            browser.stop()
    try:
        check_no_processes_left()
    except Failure as e:
        print(f"FAIL: {e}", file=sys.stderr)
        failed = True
    if failed:
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
