"""Load a page in headless Chromium and report what a person would see: console errors, uncaught exceptions,
requests that left the machine, values of JavaScript expressions, and a full-page screenshot.

Chromium is driven through the DevTools protocol over a pipe (`--remote-debugging-pipe`: commands on fd 3, replies
and events on fd 4, JSON messages ended by a NUL byte), so no port is opened and nothing beyond the standard library
is needed."""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class PageLoad:
    console_errors: list[str] = field(default_factory=list)     # console.error/assert, exceptions, Log errors
    console_messages: list[str] = field(default_factory=list)   # every console message, for the failure text
    requests: list[str] = field(default_factory=list)           # every URL the page asked for
    values: dict[str, object] = field(default_factory=dict)     # the expressions given, evaluated after load
    screenshot: Path | None = None


class _Pipe:
    def __init__(self, proc: subprocess.Popen, write_fd: int, read_fd: int):
        self.proc, self.write_fd, self.read_fd = proc, write_fd, read_fd
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 60.0):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        while True:
            reply = self.receive(timeout)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def receive(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.read_fd], [], [], left)
            if ready:
                chunk = os.read(self.read_fd, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed its pipe (exit code {self.proc.poll()})")
                self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def wait_for(self, method: str, timeout: float) -> dict:
        for k, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(k)
        deadline = time.monotonic() + timeout
        while True:
            event = self.receive(max(0.01, deadline - time.monotonic()))
            if event.get("method") == method:
                return event
            self.events.append(event)


def _high(fd: int) -> int:
    """A copy of `fd` numbered 10 or above, so that placing the pipe ends at 3 and 4 never overwrites the other."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


def load_page(path: Path, expressions: dict[str, str], ready: str, screenshot: Path | None = None,
              width: int = 1280, timeout: float = 90.0) -> PageLoad:
    """Open `path`, wait for the load event and then until the JavaScript expression `ready` is true (or `timeout`),
    evaluate `expressions` (name -> JavaScript), and save a full-page PNG to `screenshot`."""
    binary = chromium_binary()
    if binary is None:
        raise FileNotFoundError("chromium is not installed")
    to_chrome_r, to_chrome_w = (_high(fd) for fd in os.pipe())
    from_chrome_r, from_chrome_w = (_high(fd) for fd in os.pipe())

    def place_pipes():
        os.dup2(to_chrome_r, 3)
        os.dup2(from_chrome_w, 4)

    profile = tempfile.mkdtemp(prefix="mgdsl-chromium-")
    args = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--remote-debugging-pipe", f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check",
            "--disable-extensions", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--mute-audio", "about:blank"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            pass_fds=(3, 4), preexec_fn=place_pipes)
    os.close(to_chrome_r)
    os.close(from_chrome_w)
    out = PageLoad()
    pipe = _Pipe(proc, to_chrome_w, from_chrome_r)
    try:
        target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            pipe.send(f"{domain}.enable", session=session)
        pipe.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": 900, "deviceScaleFactor": 1,
                                                         "mobile": False}, session=session)
        pipe.send("Page.navigate", {"url": path.resolve().as_uri()}, session=session)
        pipe.wait_for("Page.loadEventFired", timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = pipe.send("Runtime.evaluate", {"expression": ready, "returnByValue": True}, session=session)
            if done.get("result", {}).get("value") is True:
                break
            time.sleep(0.2)
        for name, expression in expressions.items():
            result = pipe.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                               session=session)
            out.values[name] = result.get("result", {}).get("value")
        if screenshot is not None:
            height = pipe.send("Runtime.evaluate", {"expression": "document.documentElement.scrollHeight",
                                                    "returnByValue": True}, session=session)["result"]["value"]
            shot = pipe.send("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": min(int(height), 16000), "scale": 1}},
                session=session, timeout=timeout)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            out.screenshot = screenshot
        # what happened on the way: read the events that arrived meanwhile
        while True:
            try:
                pipe.events.append(pipe.receive(0.3))
            except TimeoutError:
                break
        for event in pipe.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled":
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                out.console_messages.append(f"{params.get('type')}: {text}")
                if params.get("type") in ("error", "assert"):
                    out.console_errors.append(text)
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                out.console_errors.append(details.get("exception", {}).get("description") or details.get("text", ""))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                out.console_errors.append(params["entry"].get("text", ""))
            elif method == "Network.requestWillBeSent":
                out.requests.append(params.get("request", {}).get("url", ""))
        try:
            pipe.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError):
            pass
    finally:
        os.close(to_chrome_w)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(from_chrome_r)
        shutil.rmtree(profile, ignore_errors=True)
    return out
