#!/usr/bin/env python3
"""A real headless browser for the end-to-end tests: starts Debian's Chromium and drives one
page over the Chrome DevTools Protocol, taking commands as JSON lines on stdin and answering
each with one JSON line on stdout (after a first "READY <browser version>" line).

Commands: {"op": "navigate", "url"}, {"op": "eval", "expr"}, {"op": "wait", "expr",
"timeout"} (until the expression is truthy), {"op": "click", "selector"} (a real mouse click
at the element's centre), {"op": "viewport", "width", "height", "mobile"},
{"op": "color_scheme", "value"}, {"op": "screenshot", "path"} (the whole page, PNG),
{"op": "problems"} (console errors, exceptions and Content-Security-Policy reports so far),
{"op": "quit"}. Chromium gets SIGTERM when this process dies, however it dies.
"""

import base64
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket  # websocket-client, from tests/support/requirements.txt

STARTUP_SECONDS = 30
COMMAND_SECONDS = 30


def die_with_parent():
    """Runs in the Chromium child before exec: SIGTERM it when this driver exits."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    PR_SET_PDEATHSIG = 1
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    os.setsid()


class Browser:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="hookwall-chromium-")
        self.log = open(os.path.join(self.profile, "chromium.log"), "wb")
        binary = os.environ.get("HOOKWALL_CHROMIUM", "chromium")
        self.process = subprocess.Popen(
            [
                binary,
                "--headless",
                # The tests run as root (CI); Chromium's sandbox refuses root.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
            preexec_fn=die_with_parent,
        )
        port = self._wait_for_port()
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(t for t in targets if t.get("type") == "page")
        version = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/version", timeout=10))
        self.version = version.get("Browser", "unknown")
        # Chromium refuses DevTools connections that carry an Origin header.
        self.socket = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=COMMAND_SECONDS, suppress_origin=True
        )
        self.next_id = 0
        self.events = []
        self.problems = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def _wait_for_port(self):
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.process.returncode}: {self._log_tail()}")
            try:
                with open(port_file) as f:
                    first = f.readline().strip()
                if first:
                    return int(first)
            except (FileNotFoundError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"chromium did not open its DevTools port: {self._log_tail()}")

    def _log_tail(self):
        self.log.flush()
        with open(os.path.join(self.profile, "chromium.log"), "rb") as f:
            return f.read()[-2000:].decode("utf-8", "replace")

    def _note(self, message):
        method = message.get("method")
        params = message.get("params", {})
        if method == "Log.entryAdded":
            entry = params.get("entry", {})
            if entry.get("level") == "error" or entry.get("source") == "security":
                self.problems.append(f"log {entry.get('source')}: {entry.get('text')}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("exception", {}).get("description") or details.get("text")
            self.problems.append(f"exception: {text}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = [a.get("value", a.get("description")) for a in params.get("args", [])]
            self.problems.append(f"console.{params.get('type')}: {args}")
        self.events.append(message)
        del self.events[:-200]

    def call(self, method, **params):
        self.next_id += 1
        wanted = self.next_id
        self.socket.send(json.dumps({"id": wanted, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._note(message)

    def wait_event(self, method, timeout):
        for index, message in enumerate(self.events):
            if message.get("method") == method:
                del self.events[: index + 1]
                return message
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.socket.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                message = json.loads(self.socket.recv())
            except websocket.WebSocketTimeoutException:
                break
            finally:
                self.socket.settimeout(COMMAND_SECONDS)
            self._note(message)
            if message.get("method") == method:
                self.events.clear()
                return message
        raise RuntimeError(f"no {method} within {timeout}s")

    def evaluate(self, expression):
        result = self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise RuntimeError(f"{expression}: {text}")
        return result.get("result", {}).get("value")

    def run(self, command):
        op = command["op"]
        if op == "navigate":
            self.events.clear()
            self.call("Page.navigate", url=command["url"])
            self.wait_event("Page.loadEventFired", COMMAND_SECONDS)
            return None
        if op == "eval":
            return self.evaluate(command["expr"])
        if op == "wait":
            deadline = time.monotonic() + float(command.get("timeout", 10))
            last = None
            while time.monotonic() < deadline:
                last = self.evaluate(command["expr"])
                if last:
                    return last
                time.sleep(0.05)
            raise RuntimeError(f"still falsy after {command.get('timeout', 10)}s: {command['expr']} = {last!r}")
        if op == "click":
            selector = json.dumps(command["selector"])
            rect = self.evaluate(
                f"(() => {{ const e = document.querySelector({selector}); if (!e) return null;"
                " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                " return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()"
            )
            if rect is None:
                raise RuntimeError(f"nothing matches {command['selector']}")
            for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
                self.call(
                    "Input.dispatchMouseEvent", type=kind, x=rect["x"], y=rect["y"],
                    button="left", clickCount=1,
                )
            return rect
        if op == "viewport":
            self.call(
                "Emulation.setDeviceMetricsOverride", width=int(command["width"]),
                height=int(command["height"]), deviceScaleFactor=1,
                mobile=bool(command.get("mobile", False)),
            )
            return None
        if op == "color_scheme":
            self.call(
                "Emulation.setEmulatedMedia",
                features=[{"name": "prefers-color-scheme", "value": command["value"]}],
            )
            return None
        if op == "screenshot":
            metrics = self.call("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            shot = self.call(
                "Page.captureScreenshot", format="png", captureBeyondViewport=True,
                clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
            )
            path = command["path"]
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            with open(path, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            return path
        if op == "problems":
            # Drain what arrived since the last call.
            self.evaluate("0")
            return list(self.problems)
        raise RuntimeError(f"unknown op {op!r}")

    def close(self):
        try:
            self.socket.close()
        except Exception:
            pass
        if self.process.poll() is None:
            # Chromium leads its own process group (setsid above): stop the whole group.
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    browser = Browser()
    try:
        print(f"READY {browser.version}", flush=True)
        for line in sys.stdin:
            if not line.strip():
                continue
            command = json.loads(line)
            if command.get("op") == "quit":
                print(json.dumps({"ok": True, "value": None}), flush=True)
                break
            try:
                answer = {"ok": True, "value": browser.run(command)}
            except Exception as err:  # reported to the test, which fails with it
                answer = {"ok": False, "error": str(err)}
            print(json.dumps(answer), flush=True)
    finally:
        browser.close()


if __name__ == "__main__":
    main()
