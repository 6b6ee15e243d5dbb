"""A small Chrome DevTools protocol client for Debian's ``chromium``, driven by its executable path.

No browser download and no driver: chromium runs headless with ``--remote-debugging-port=0``, prints the
port it chose, and one page target is driven over its websocket (``websocket-client``). Console errors and
uncaught exceptions are collected as they arrive, whatever call is waiting.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import websocket

__all__ = ["Browser", "chromium_path", "open_browser"]

_LISTENING = re.compile(r"DevTools listening on (ws://[^\s]+)")


def chromium_path() -> str | None:
    """The chromium executable: ``$CHROMIUM`` or the Debian package's, None when there is none."""
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


class Browser:
    """One page of a headless chromium, over the DevTools protocol."""

    def __init__(self, socket: websocket.WebSocket) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self.errors: list[str] = []
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result (events that arrive meanwhile are recorded)."""
        ident = next(self._ids)
        self._socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})  # type: ignore[no-any-return]
            self._record(message)

    def wait_for(self, event: str) -> dict[str, Any]:
        """Block until the page sends ``event`` (recorded earlier counts)."""
        for seen in self.events:
            if seen["method"] == event:
                return seen
        while True:
            message = json.loads(self._socket.recv())
            self._record(message)
            if message.get("method") == event:
                return message

    def evaluate(self, expression: str) -> Any:
        """The value of ``expression`` in the page (a promise is awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        """Navigate to ``url`` and wait for its load event."""
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def mouse(self, kind: str, x: float, y: float, buttons: int = 0) -> None:
        button = "left" if kind != "mouseMoved" or buttons else "none"
        self.call("Input.dispatchMouseEvent", type=kind, x=x, y=y, button=button, buttons=buttons,
                  clickCount=1 if kind != "mouseMoved" else 0)  # fmt: skip

    def screenshot(self, path: Path, width: int, height: int) -> None:
        """A PNG of the page's top ``width`` × ``height`` CSS pixels."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=False)  # fmt: skip
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def _record(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method is None:
            return
        self.events.append(message)
        params = message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            self.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.errors.append(str(details.get("exception", {}).get("description", details.get("text"))))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(f"{params['entry'].get('url', '')}: {params['entry']['text']}")


@contextmanager
def open_browser(executable: str, width: int = 1400, height: int = 1000) -> Iterator[Browser]:
    """A headless chromium with one blank page; killed on exit."""
    profile = tempfile.mkdtemp(prefix="tradeloop-chromium-")
    process = subprocess.Popen(
        [executable, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-dev-shm-usage", "--allow-file-access-from-files", f"--window-size={width},{height}",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert process.stderr is not None
        endpoint = None
        for line in process.stderr:
            if found := _LISTENING.search(line):
                endpoint = found.group(1)
                break
        if endpoint is None:
            raise RuntimeError(f"{executable} exited ({process.wait()}) without a DevTools endpoint")
        # Keep reading its log, so that a full pipe never blocks the browser.
        threading.Thread(target=lambda: [None for _ in process.stderr or ()], daemon=True).start()
        port = endpoint.split("//", 1)[1].split("/", 1)[0]
        with urllib.request.urlopen(f"http://{port}/json/list") as response:
            targets = json.load(response)
        page = next(t for t in targets if t["type"] == "page")
        socket = websocket.create_connection(page["webSocketDebuggerUrl"], suppress_origin=True)
        try:
            browser = Browser(socket)
            for domain in ("Page", "Runtime", "Log"):
                browser.call(f"{domain}.enable")
            yield browser
        finally:
            socket.close()
    finally:
        process.kill()
        process.wait()
        shutil.rmtree(profile, ignore_errors=True)
