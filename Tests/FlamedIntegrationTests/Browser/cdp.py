#!/usr/bin/env python3
"""A small, dependency-free Chrome DevTools Protocol driver for headless Chromium.

Chromium is started with --remote-debugging-pipe: the protocol runs over file descriptor 3
(messages to the browser) and 4 (messages from it), each message one JSON object ended by
a NUL byte. Every wait has a timeout, the browser gets a fresh --user-data-dir, and its
whole process group is killed at the end.

Library:
    with Browser() as browser:
        page = browser.open("file:///tmp/x.html")
        page.wait("window.flamedViewer && flamedViewer.ready")
        page.click_frame("main")
        page.screenshot("/tmp/x.png")
        print(page.console, page.exceptions, page.external_requests())

Command line:
    cdp.py run [SCRIPT.json | -]     run a JSON script of steps, print a JSON result
    cdp.py bench FILE [--runs N]     first paint (performance mark) of FILE, as JSON
    cdp.py eval FILE EXPR            open FILE, wait for the viewer, print EXPR's value
                                     (strings as they are, anything else as JSON)
    cdp.py version                   the browser's version, as JSON

A script is {"url": ..., "width": 1280, "height": 900, "timeout": 120, "steps": [...]};
with "url" the page is opened before the steps. Steps ({"op": ...}):
    open      {"url", "waitFor"?}           navigate and wait for the load event (and waitFor)
    reload    {"waitFor"?}                  reload and wait for the load event (and waitFor)
    wait      {"expr", "timeout"?}          poll until the expression is truthy
    eval      {"expr", "as"?, "allowException"?}  evaluate (promises awaited), store under "as"
    click     {"selector"} | {"frame"} | {"x", "y"}   real mouse move, press and release
    hover     {"selector"} | {"frame"} | {"x", "y"}   real mouse move
    type      {"text", "selector"?, "clear"?, "insertText"?}  click the element, then keys
    key       {"key", "modifiers"?}         one key press (keyDown, keyUp), e.g. "?", "Escape"
    select    {"selector", "value"}         set a <select>'s value and fire input and change
    screenshot {"path"}                     PNG of the viewport
    sleep     {"ms"}
    frames    {"as"?}                       wait two animation frames (lets the page redraw)
Each step may carry "if" (an expression: the step is skipped unless it is truthy) and "as"
(to store its value in "results"). The run stops at the first failing step; the result says
which one and why, and still lists what was collected. A step with "optional": true does
not stop the run: its error is stored as {"__error": message}.
"""

import base64
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

DEFAULT_TIMEOUT = 20.0


class CDPError(Exception):
    pass


def find_chromium(explicit=None):
    for candidate in (explicit, os.environ.get("FLAMED_CHROMIUM")):
        if candidate:
            return candidate
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Connection:
    """The pipe to the browser: requests with ids, responses and events read by a thread."""

    def __init__(self, write_fd, read_fd):
        self.write_fd = write_fd
        self.read_fd = read_fd
        self.next_id = 0
        self.lock = threading.Lock()
        self.cond = threading.Condition()
        self.responses = {}
        self.listeners = []
        self.closed = None
        self.thread = threading.Thread(target=self._read, name="cdp-reader", daemon=True)
        self.thread.start()

    def _read(self):
        buffer = b""
        try:
            while True:
                chunk = os.read(self.read_fd, 1 << 20)
                if not chunk:
                    break
                buffer += chunk
                while True:
                    end = buffer.find(b"\0")
                    if end < 0:
                        break
                    raw, buffer = buffer[:end], buffer[end + 1:]
                    try:
                        message = json.loads(raw.decode("utf-8", "replace"))
                    except ValueError:
                        continue
                    self._dispatch(message)
        except OSError as error:
            reason = "pipe error: %s" % error
        else:
            reason = "the browser closed the pipe"
        with self.cond:
            self.closed = reason
            self.cond.notify_all()

    def _dispatch(self, message):
        if "id" in message:
            with self.cond:
                self.responses[message["id"]] = message
                self.cond.notify_all()
            return
        for listener in list(self.listeners):
            try:
                listener(message)
            except Exception as error:  # a listener must not kill the reader
                sys.stderr.write("cdp listener failed: %r\n" % error)
        with self.cond:
            self.cond.notify_all()

    def send(self, method, params=None, session=None, timeout=DEFAULT_TIMEOUT):
        with self.lock:
            self.next_id += 1
            ident = self.next_id
            message = {"id": ident, "method": method, "params": params or {}}
            if session:
                message["sessionId"] = session
            data = json.dumps(message).encode("utf-8") + b"\0"
            try:
                view = memoryview(data)
                while view:
                    written = os.write(self.write_fd, view)
                    view = view[written:]
            except OSError as error:
                raise CDPError("%s: cannot write to the browser: %s" % (method, error))
        deadline = time.monotonic() + timeout
        with self.cond:
            while ident not in self.responses:
                if self.closed:
                    raise CDPError("%s: %s" % (method, self.closed))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CDPError("%s: no answer within %.0f s" % (method, timeout))
                self.cond.wait(min(left, 0.5))
            response = self.responses.pop(ident)
        if "error" in response:
            raise CDPError("%s: %s" % (method, response["error"].get("message", response["error"])))
        return response.get("result", {})

    def wait_until(self, predicate, timeout, what):
        """Waits until predicate() (checked whenever a message arrives) is true."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                if predicate():
                    return
                if self.closed:
                    raise CDPError("waiting for %s: %s" % (what, self.closed))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CDPError("timed out after %.0f s waiting for %s" % (timeout, what))
                self.cond.wait(min(left, 0.5))


class Browser:
    """A headless Chromium with a fresh profile, driven over the debugging pipe."""

    def __init__(self, executable=None, width=1280, height=900, extra_args=()):
        self.executable = find_chromium(executable)
        if not self.executable:
            raise CDPError("chromium is not installed (set FLAMED_CHROMIUM or install the chromium package)")
        self.width, self.height = width, height
        self.profile = tempfile.mkdtemp(prefix="flamed-cdp-")
        self.log_path = os.path.join(self.profile, "chromium.log")
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        # The child gets the pipe ends as fds 3 and 4. They are first moved to fds >= 10 so
        # that the redirections cannot clobber each other (bash: dash takes only fds up to 9).
        child_in = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)
        arguments = [
            self.executable,
            "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
            "--user-data-dir=" + self.profile,
            "--window-size=%d,%d" % (width, height),
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-sync", "--disable-component-update",
            "--disable-default-apps", "--disable-dev-shm-usage", "--mute-audio",
            "--disable-features=Translate,MediaRouter,OptimizationHints",
            "--metrics-recording-only", "--password-store=basic", "--use-mock-keychain",
            "--allow-file-access-from-files",
        ] + list(extra_args) + ["about:blank"]
        shell = 'exec "$@" 3<&%d 4>&%d %d<&- %d>&-' % (child_in, child_out, child_in, child_out)
        self.log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            ["/bin/bash", "-c", shell, "bash"] + arguments,
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
            pass_fds=(child_in, child_out), start_new_session=True,
        )
        os.close(child_in)
        os.close(child_out)
        self.connection = Connection(to_browser_w, from_browser_r)
        self._fds = (to_browser_w, from_browser_r)
        self.closed = False
        try:
            self.version = self.connection.send("Browser.getVersion", timeout=30)
        except CDPError as error:
            self.close()
            raise CDPError("chromium did not start: %s; log: %s" % (error, self.log_tail()))

    def log_tail(self, limit=2000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()[-limit:].decode("utf-8", "replace")
        except OSError:
            return ""

    def open(self, url=None, wait_for=None, timeout=DEFAULT_TIMEOUT):
        page = Page(self)
        if url:
            page.navigate(url, wait_for=wait_for, timeout=timeout)
        return page

    def close(self):
        if self.closed:
            return
        self.closed = True
        try:
            if self.process.poll() is None:
                try:
                    self.connection.send("Browser.close", timeout=3)
                except CDPError:
                    pass
                try:
                    self.process.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # the browser's own process group
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for fd in self._fds:
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.log.close()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# Records CSP violations, which a page cannot otherwise report without a network.
_PRELUDE = """
window.__flamedCSP = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__flamedCSP.push({directive: e.violatedDirective, blocked: e.blockedURI, sample: e.sample});
});
"""

# Printable keys that need more than their character: DOM code and Windows key code.
_PUNCTUATION = {
    " ": ("Space", 32, False), "!": ("Digit1", 49, True), "\"": ("Quote", 222, True),
    "#": ("Digit3", 51, True), "$": ("Digit4", 52, True), "%": ("Digit5", 53, True),
    "&": ("Digit7", 55, True), "'": ("Quote", 222, False), "(": ("Digit9", 57, True),
    ")": ("Digit0", 48, True), "*": ("Digit8", 56, True), "+": ("Equal", 187, True),
    ",": ("Comma", 188, False), "-": ("Minus", 189, False), ".": ("Period", 190, False),
    "/": ("Slash", 191, False), ":": ("Semicolon", 186, True), ";": ("Semicolon", 186, False),
    "<": ("Comma", 188, True), "=": ("Equal", 187, False), ">": ("Period", 190, True),
    "?": ("Slash", 191, True), "@": ("Digit2", 50, True), "[": ("BracketLeft", 219, False),
    "\\": ("Backslash", 220, False), "]": ("BracketRight", 221, False), "^": ("Digit6", 54, True),
    "_": ("Minus", 189, True), "`": ("Backquote", 192, False), "{": ("BracketLeft", 219, True),
    "|": ("Backslash", 220, True), "}": ("BracketRight", 221, True), "~": ("Backquote", 192, True),
}
_SPECIAL = {
    "Enter": ("Enter", 13, "\r"), "Escape": ("Escape", 27, None), "Backspace": ("Backspace", 8, None),
    "Tab": ("Tab", 9, None), "Delete": ("Delete", 46, None), "ArrowLeft": ("ArrowLeft", 37, None),
    "ArrowUp": ("ArrowUp", 38, None), "ArrowRight": ("ArrowRight", 39, None),
    "ArrowDown": ("ArrowDown", 40, None), "Home": ("Home", 36, None), "End": ("End", 35, None),
}
SHIFT, CTRL = 8, 2


def key_description(key):
    """CDP key event fields for a key name ("Escape") or one character."""
    if key in _SPECIAL:
        code, vk, text = _SPECIAL[key]
        fields = {"key": key, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}
        if text:
            fields["text"] = text
        return fields, 0
    if len(key) != 1:
        raise CDPError("unknown key %r" % key)
    shift = False
    if key.isalpha() and key.isascii():
        code, vk, shift = "Key" + key.upper(), ord(key.upper()), key.isupper()
    elif key.isdigit() and key.isascii():
        code, vk = "Digit" + key, ord(key)
    elif key in _PUNCTUATION:
        code, vk, shift = _PUNCTUATION[key]
    else:
        code, vk = "", 0
    fields = {"key": key, "code": code, "text": key, "unmodifiedText": key,
              "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}
    return fields, (SHIFT if shift else 0)


class Page:
    """One tab: console, exceptions and requests are collected from the moment it opens."""

    def __init__(self, browser):
        self.browser = browser
        self.connection = browser.connection
        self.console = []       # {"source", "level", "text"}
        self.exceptions = []    # {"text", "url", "line"}
        self.requests = []      # {"url", "type"}
        self.loads = 0
        self.url = None
        target = self.connection.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.target = target
        self.session = self.connection.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.connection.listeners.append(self._on_message)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(domain + ".enable")
        self.send("Page.addScriptToEvaluateOnNewDocument", {"source": _PRELUDE})
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": browser.width, "height": browser.height, "deviceScaleFactor": 1, "mobile": False})
        self.send("Emulation.setFocusEmulationEnabled", {"enabled": True})

    def send(self, method, params=None, timeout=DEFAULT_TIMEOUT):
        return self.connection.send(method, params, session=self.session, timeout=timeout)

    # ---- Events ----

    def _on_message(self, message):
        if message.get("sessionId") != self.session:
            return
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            parts = []
            for arg in params.get("args", []):
                if "value" in arg:
                    parts.append(arg["value"] if isinstance(arg["value"], str) else json.dumps(arg["value"]))
                else:
                    parts.append(arg.get("description", arg.get("type", "?")))
            level = {"warning": "warning", "error": "error", "assert": "error"}.get(params.get("type"), params.get("type"))
            self.console.append({"source": "console", "level": level, "text": " ".join(parts)})
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = details.get("text", "")
            exception = details.get("exception") or {}
            if exception.get("description"):
                text += " " + exception["description"]
            self.exceptions.append({"text": text, "url": details.get("url"), "line": details.get("lineNumber")})
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            self.console.append({"source": entry.get("source"), "level": entry.get("level"),
                                 "text": entry.get("text", ""), "url": entry.get("url")})
        elif method == "Network.requestWillBeSent":
            request = params.get("request", {})
            self.requests.append({"url": request.get("url", ""), "type": params.get("type")})
        elif method == "Page.loadEventFired":
            self.loads += 1
        elif method in ("Inspector.targetCrashed",):
            self.exceptions.append({"text": "the page crashed", "url": None, "line": None})

    def external_requests(self):
        """Requests for anything but the page's own file, data: and blob: URLs."""
        own = (self.url or "").split("#")[0]
        result = []
        for request in self.requests:
            url = request["url"]
            if url.split("#")[0] == own or url.startswith(("data:", "blob:", "about:")):
                continue
            result.append(url)
        return result

    def errors(self):
        return [entry for entry in self.console if entry.get("level") == "error"]

    # ---- Navigation and evaluation ----

    def navigate(self, url, wait_for=None, timeout=DEFAULT_TIMEOUT):
        self.url = url
        before = self.loads
        result = self.send("Page.navigate", {"url": url}, timeout=timeout)
        if result.get("errorText"):
            raise CDPError("cannot open %s: %s" % (url, result["errorText"]))
        self.connection.wait_until(lambda: self.loads > before, timeout, "the load event of " + url)
        if wait_for:
            self.wait(wait_for, timeout)

    def reload(self, wait_for=None, timeout=DEFAULT_TIMEOUT):
        before = self.loads
        self.send("Page.reload", {"ignoreCache": True}, timeout=timeout)
        self.connection.wait_until(lambda: self.loads > before, timeout, "the load event after reload")
        if wait_for:
            self.wait(wait_for, timeout)

    def evaluate(self, expression, timeout=DEFAULT_TIMEOUT, allow_exception=False):
        result = self.send("Runtime.evaluate", {
            "expression": expression, "awaitPromise": True, "returnByValue": True,
            "userGesture": True, "timeout": int(timeout * 1000),
        }, timeout=timeout + 5)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            description = (details.get("exception") or {}).get("description") or details.get("text")
            if allow_exception:
                return {"__exception": description}
            raise CDPError("evaluating %s: %s" % (expression[:200], description))
        value = result.get("result", {})
        if value.get("type") == "undefined":
            return None
        return value.get("value")

    def wait(self, expression, timeout=DEFAULT_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                value = self.evaluate("(async () => (%s))()" % expression, timeout=max(1.0, deadline - time.monotonic()))
                if value:
                    return value
            except CDPError as error:
                last = error
            if time.monotonic() > deadline:
                raise CDPError("timed out after %.0f s waiting for %s%s" % (timeout, expression, " (%s)" % last if last else ""))
            time.sleep(0.05)

    def frames(self, count=2):
        self.evaluate("new Promise(r => { let n = %d; const f = () => (--n > 0 ? requestAnimationFrame(f) : r(true)); requestAnimationFrame(f); })" % count)

    # ---- Input ----

    def point_of_selector(self, selector):
        point = self.evaluate("""(() => {
            const e = document.querySelector(%s);
            if (!e) return null;
            e.scrollIntoView({block: 'nearest', inline: 'nearest'});
            const r = e.getBoundingClientRect();
            return {x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width, h: r.height};
        })()""" % json.dumps(selector))
        if not point:
            raise CDPError("no element matches %s" % selector)
        if point["w"] <= 0 or point["h"] <= 0:
            raise CDPError("%s is not visible" % selector)
        return point["x"], point["y"]

    def point_of_frame(self, name):
        """Viewport coordinates of the centre of the first drawn frame called `name`,
        scrolling the chart (and then the window) so that the point is visible."""
        point = self.evaluate("""(async (name) => {
            const v = window.flamedViewer;
            if (!v || !v.frameRect) return {error: 'window.flamedViewer.frameRect is missing'};
            const canvas = document.getElementById('flame');
            const chart = document.getElementById('chart') || canvas.parentElement;
            const settle = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
            const locate = () => {
                const f = v.frameRect(name);
                if (!f) return null;
                const r = canvas.getBoundingClientRect();
                const c = chart.getBoundingClientRect();
                const left = Math.max(c.left, 0, r.left), right = Math.min(c.right, innerWidth, r.right);
                const top = Math.max(c.top, 0, r.top), bottom = Math.min(c.bottom, innerHeight, r.bottom);
                // The middle of the part of the frame that can be seen.
                const x0 = Math.max(r.left + f.x, left), x1 = Math.min(r.left + f.x + f.w, right);
                return {x: (x0 + x1) / 2, y: r.top + f.y + f.h / 2, left, right, top, bottom, x0, x1, f};
            };
            let p = locate();
            if (!p) return null;
            for (let attempt = 0; attempt < 3 && (p.y < p.top + 1 || p.y > p.bottom - 1 || p.x1 - p.x0 < 1); attempt++) {
                if (p.y < p.top + 1 || p.y > p.bottom - 1) {
                    const before = chart.scrollTop;
                    chart.scrollTop += p.y - (p.top + p.bottom) / 2;
                    if (chart.scrollTop === before) window.scrollBy(0, p.y - innerHeight / 2);
                }
                if (p.x1 - p.x0 < 1) chart.scrollLeft += p.f.x + p.f.w / 2 - chart.clientWidth / 2;
                await settle();
                p = locate();
                if (!p) return null;
            }
            return p;
        })(%s)""" % json.dumps(name))
        if point is None:
            raise CDPError("flamedViewer.frameRect(%r) is null: no such frame is drawn" % name)
        if "error" in point:
            raise CDPError(point["error"])
        if not (point["top"] <= point["y"] <= point["bottom"]) or point["x1"] - point["x0"] < 1:
            raise CDPError("the frame %r cannot be scrolled into view: %r" % (name, point))
        return point["x"], point["y"]

    def target_point(self, step):
        if "frame" in step:
            return self.point_of_frame(step["frame"])
        if "selector" in step:
            return self.point_of_selector(step["selector"])
        if "x" in step and "y" in step:
            return float(step["x"]), float(step["y"])
        raise CDPError("a click or hover needs frame, selector or x and y")

    def mouse_move(self, x, y):
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y, "button": "none", "buttons": 0})

    def click(self, x, y, button="left", click_count=1):
        self.mouse_move(x, y)
        self.send("Input.dispatchMouseEvent", {"type": "mousePressed", "x": x, "y": y, "button": button,
                                               "buttons": 1, "clickCount": click_count})
        self.send("Input.dispatchMouseEvent", {"type": "mouseReleased", "x": x, "y": y, "button": button,
                                               "buttons": 0, "clickCount": click_count})

    def click_frame(self, name):
        x, y = self.point_of_frame(name)
        self.click(x, y)
        return {"x": x, "y": y}

    def key(self, key, modifiers=0, commands=None):
        fields, implied = key_description(key)
        modifiers |= implied
        down = dict(fields, type="keyDown" if "text" in fields and not (modifiers & CTRL) else "rawKeyDown",
                    modifiers=modifiers)
        if modifiers & CTRL:
            down.pop("text", None)
            down.pop("unmodifiedText", None)
        if commands:
            down["commands"] = commands
        self.send("Input.dispatchKeyEvent", down)
        up = {k: v for k, v in fields.items() if k not in ("text", "unmodifiedText")}
        self.send("Input.dispatchKeyEvent", dict(up, type="keyUp", modifiers=modifiers))

    def type_text(self, text, insert_text=False):
        if insert_text:
            self.send("Input.insertText", {"text": text})
            return
        for character in text:
            self.key(character)

    def clear_focused(self):
        self.key("a", modifiers=CTRL, commands=["selectAll"])
        self.key("Backspace")

    def screenshot(self, path):
        data = self.send("Page.captureScreenshot", {"format": "png"}, timeout=60)["data"]
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return {"path": os.path.abspath(path), "bytes": os.path.getsize(path)}

    def collected(self):
        return {
            "console": self.console,
            "errors": self.errors(),
            "exceptions": self.exceptions,
            "network": self.requests,
            "externalRequests": self.external_requests(),
        }


# ---- Scripts ----

def run_step(page, step, default_timeout):
    op = step.get("op")
    timeout = float(step.get("timeout", default_timeout))
    if "if" in step and not page.evaluate(step["if"], timeout=timeout):
        return {"skipped": True}
    if op == "open":
        page.navigate(step["url"], wait_for=step.get("waitFor"), timeout=timeout)
        return None
    if op == "reload":
        page.reload(wait_for=step.get("waitFor"), timeout=timeout)
        return None
    if op == "wait":
        return page.wait(step["expr"], timeout=timeout)
    if op == "eval":
        return page.evaluate(step["expr"], timeout=timeout, allow_exception=bool(step.get("allowException")))
    if op == "click":
        x, y = page.target_point(step)
        page.click(x, y, click_count=int(step.get("clickCount", 1)))
        page.frames()
        return {"x": x, "y": y}
    if op == "hover":
        x, y = page.target_point(step)
        page.mouse_move(x, y)
        page.frames()
        return {"x": x, "y": y}
    if op == "type":
        if "selector" in step:
            x, y = page.point_of_selector(step["selector"])
            page.click(x, y)
            focused = page.evaluate("document.activeElement === document.querySelector(%s)" % json.dumps(step["selector"]))
            if not focused:
                raise CDPError("clicking %s did not focus it" % step["selector"])
        if step.get("clear", True):
            page.clear_focused()
        page.type_text(step["text"], insert_text=bool(step.get("insertText")))
        page.frames()
        return None
    if op == "key":
        page.key(step["key"], modifiers=int(step.get("modifiers", 0)))
        page.frames()
        return None
    if op == "select":
        return page.evaluate("""(() => {
            const e = document.querySelector(%s);
            if (!e) throw new Error('no element matches ' + %s);
            e.focus();
            e.value = %s;
            if (e.value !== %s) throw new Error('no option with value ' + %s);
            e.dispatchEvent(new Event('input', {bubbles: true}));
            e.dispatchEvent(new Event('change', {bubbles: true}));
            return e.value;
        })()""" % ((json.dumps(step["selector"]),) * 2 + (json.dumps(step["value"]),) * 3))
    if op == "screenshot":
        return page.screenshot(step["path"])
    if op == "sleep":
        time.sleep(float(step.get("ms", 100)) / 1000)
        return None
    if op == "frames":
        page.frames(int(step.get("count", 2)))
        return None
    raise CDPError("unknown step op %r" % op)


def run_script(script):
    started = time.monotonic()
    output = {"ok": False, "error": None, "failedStep": None, "results": {}, "steps": [],
              "console": [], "errors": [], "exceptions": [], "network": [], "externalRequests": []}
    default_timeout = float(script.get("stepTimeout", DEFAULT_TIMEOUT))
    browser = page = None
    try:
        browser = Browser(executable=script.get("chromium"), width=int(script.get("width", 1280)),
                          height=int(script.get("height", 900)))
        output["browser"] = browser.version.get("product")
        page = browser.open()
        if script.get("url"):
            page.navigate(script["url"], wait_for=script.get("waitFor"), timeout=default_timeout)
        for index, step in enumerate(script.get("steps", [])):
            step_started = time.monotonic()
            try:
                value = run_step(page, step, default_timeout)
            except Exception as error:
                if step.get("optional"):
                    if "as" in step:
                        output["results"][step["as"]] = {"__error": str(error)}
                    output["steps"].append({"op": step.get("op"), "error": str(error)})
                    continue
                output["failedStep"] = index
                output["error"] = "step %d (%s): %s" % (index, json.dumps(step)[:300], error)
                break
            output["steps"].append({"op": step.get("op"), "ms": round((time.monotonic() - step_started) * 1000, 1)})
            if "as" in step:
                output["results"][step["as"]] = value
        else:
            output["ok"] = True
    except Exception as error:
        output["error"] = "%s: %s" % (type(error).__name__, error)
        if browser:
            output["browserLog"] = browser.log_tail()
    finally:
        if page:
            output.update(page.collected())
            try:
                output["cspViolations"] = page.evaluate("window.__flamedCSP || []", timeout=3)
            except Exception:
                pass
        if browser:
            browser.close()
    output["elapsedMs"] = round((time.monotonic() - started) * 1000, 1)
    return output


def bench(path, runs, timeout, width, height):
    """First paint of `path`: the 'flamed-first-paint' mark, else the load event end, in ms
    since navigation start; each run in a fresh tab."""
    url = "file://" + os.path.abspath(path)
    figures = []
    result = {"file": os.path.abspath(path), "bytes": os.path.getsize(path), "runs": figures}
    with Browser(width=width, height=height) as browser:
        result["browser"] = browser.version.get("product")
        for _ in range(runs):
            page = browser.open()
            page.navigate(url, timeout=timeout)
            measured = page.wait("""(() => {
                const v = window.flamedViewer;
                const marks = performance.getEntriesByName('flamed-first-paint');
                if (marks.length) return {ms: marks[0].startTime, source: 'mark', stats: v && v.stats ? v.stats() : null};
                if (v) return v.ready ? {ms: null, source: 'ready without mark'} : null;
                if (document.getElementById('flamed-data')) return null;
                const n = performance.getEntriesByType('navigation')[0];
                return n && n.loadEventEnd > 0 ? {ms: n.loadEventEnd, source: 'load'} : null;
            })()""", timeout=timeout)
            figures.append(measured["ms"])
            result["source"] = measured["source"]
            if measured.get("stats"):
                result["stats"] = measured["stats"]
            result["errors"] = page.errors() + page.exceptions
            page.connection.listeners.remove(page._on_message)
            browser.connection.send("Target.closeTarget", {"targetId": page.target})
    numbers = sorted(x for x in figures if x is not None)
    result["medianMs"] = numbers[len(numbers) // 2] if numbers else None
    result["minMs"] = numbers[0] if numbers else None
    return result


def main(argv):
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a JSON script of steps")
    run.add_argument("script", nargs="?", default="-")
    run.add_argument("--timeout", type=float, default=300, help="kill everything after this many seconds")
    b = sub.add_parser("bench", help="first paint of an HTML or SVG file")
    b.add_argument("file")
    b.add_argument("--runs", type=int, default=5)
    b.add_argument("--timeout", type=float, default=120)
    b.add_argument("--width", type=int, default=1280)
    b.add_argument("--height", type=int, default=900)
    e = sub.add_parser("eval", help="print an expression's value on a page")
    e.add_argument("file")
    e.add_argument("expression")
    e.add_argument("--wait", default="!window.flamedViewer || window.flamedViewer.ready",
                   help="wait until this is truthy first")
    e.add_argument("--timeout", type=float, default=120)
    sub.add_parser("version", help="the browser's version")
    args = parser.parse_args(argv)

    # A watchdog and SIGTERM both end the run with the browser killed.
    def stop(*_):
        raise SystemExit(124)
    signal.signal(signal.SIGTERM, stop)

    if args.command == "version":
        with Browser() as browser:
            print(json.dumps(browser.version))
        return 0
    if args.command == "eval":
        url = args.file if "://" in args.file else "file://" + os.path.abspath(args.file)
        with Browser() as browser:
            page = browser.open(url, wait_for=args.wait, timeout=args.timeout)
            value = page.evaluate(args.expression, timeout=args.timeout)
        sys.stdout.write(value if isinstance(value, str) else json.dumps(value))
        return 0
    if args.command == "bench":
        print(json.dumps(bench(args.file, args.runs, args.timeout, args.width, args.height)))
        return 0
    text = sys.stdin.read() if args.script == "-" else open(args.script, encoding="utf-8").read()
    script = json.loads(text)
    timer = threading.Timer(float(script.get("timeout", args.timeout)), lambda: os.kill(os.getpid(), signal.SIGTERM))
    timer.daemon = True
    timer.start()
    try:
        output = run_script(script)
    except SystemExit:
        output = {"ok": False, "error": "the whole run timed out after %s s" % script.get("timeout", args.timeout)}
    timer.cancel()
    print(json.dumps(output))
    return 0 if output.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
