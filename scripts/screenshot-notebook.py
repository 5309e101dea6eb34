#!/usr/bin/env python3
"""`scripts/screenshot --notebook`: the README's picture of a cell being run in the browser.

Writes a one-exercise handout to a temporary folder, starts `workbook serve --exercises` on it,
and drives headless Chromium through chromedriver (plain WebDriver over HTTP, standard library
only): open the printed URL, Edit the answer cell, type the answer, Run, wait for the checks, and
save a PNG of the page (default docs/notebook.png). Needs the Debian packages chromium and
chromium-driver and the release engine library (swift build -c release --product WorkbookKit).
"""
import base64, json, os, re, shutil, socket, subprocess, sys, tempfile, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "docs", "notebook.png")
WIDTH, HEIGHT = int(os.environ.get("WIDTH", 1100)), int(os.environ.get("HEIGHT", 860))

HANDOUT = '''---
title: "Q1: A first layer"
---
# Q1: A first layer

A linear layer maps 4 features to 3 classes. Its parameters:

```swift id=layer
manualSeed(0)
let fc = Linear(4, 3)
```

**Your task:** count the parameters of `fc` (weights and biases) and show them in a table.

```swift id=answer answer
let count = 0  // replace: the weights and biases of fc
```

```swift id=hand-in
export("count", count)
print("fc has", count, "parameters")
```

```swift check id=count points=1
try expectEqual(try answers.int("count"), 15, "the number of parameters")
```
'''

ANSWER = """let weights = fc.weight.shape.reduce(1, *)
let biases = fc.bias!.shape.reduce(1, *)
let count = weights + biases
let rows: [[Table.Value]] = [["weight", .integer(weights)],
                             ["bias", .integer(biases)], ["total", .integer(count)]]
show(table: Table(headers: ["part", "parameters"], rows: rows))"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        value = json.load(r).get("value")
    return value


def main():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver") or "/usr/lib/chromium/chromedriver"
    if not chromium or not os.path.exists(chromedriver):
        sys.exit("screenshot: install chromium and chromium-driver (apt-get install -y chromium chromium-driver)")
    work = tempfile.mkdtemp(prefix="workbook-notebook-shot-")
    handout = os.path.join(work, "handout")
    os.makedirs(handout)
    with open(os.path.join(handout, "q01-first-layer.md"), "w") as f:
        f.write(HANDOUT)
    # The CLI's own speed does not matter here; lesson programs link the release engine library.
    subprocess.run(["swift", "build", "-c", "release", "--product", "WorkbookKit"], cwd=ROOT, check=True)
    subprocess.run(["swift", "build", "--product", "workbook"], cwd=ROOT, check=True)
    bin_path = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
    serve = subprocess.Popen([os.path.join(bin_path, "workbook"), "serve", "--port", "0", "--exercises", handout,
                              "--out", os.path.join(work, "site")],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    driver = None
    try:
        url = None
        deadline = time.time() + 600
        while time.time() < deadline and url is None:
            line = serve.stdout.readline()
            if not line:
                sys.exit("screenshot: workbook serve ended before printing its URL")
            m = re.search(r"(http://127\.0\.0\.1:\d+/\?token=\w+)", line)
            url = m.group(1) if m else None
        base = url.split("?")[0]
        port = free_port()
        driver = subprocess.Popen([chromedriver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                call(port, "GET", "/status"); break
            except OSError:
                time.sleep(0.1)
        session = urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{port}/session", method="POST", headers={"Content-Type": "application/json"},
            data=json.dumps({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
                "binary": chromium, "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                             f"--window-size={WIDTH},{HEIGHT}", f"--user-data-dir={work}/profile"]}}}}).encode()),
            timeout=60)
        sid = json.load(session)["value"]["sessionId"]
        s = f"/session/{sid}"
        run = lambda script, *args: call(port, "POST", s + "/execute/sync", {"script": script, "args": list(args)})
        call(port, "POST", s + "/url", {"url": url})
        call(port, "POST", s + "/url", {"url": base + "exercises/q01-first-layer.html"})
        for _ in range(100):
            if run("return document.body.classList.contains('nb-notebook')"): break
            time.sleep(0.1)
        run("document.querySelector('.nb-edit').click();")
        run("var t = document.querySelector('textarea.nb-editor'); t.value = arguments[0]; t.dispatchEvent(new Event('input'));", ANSWER)
        run("document.querySelector('.nb-run').click();")
        for _ in range(3000):
            if run("return !!document.body.getAttribute('data-run')"): break
            time.sleep(0.1)
        # The picture is of the run, not of the rebuild that follows the save.
        run("var s = document.createElement('style'); s.textContent = '#nb-rebuilt { display: none; }'; document.head.appendChild(s);")
        run("document.querySelector('.nb-edit').closest('.nb-cell').scrollIntoView({block: 'start'}); window.scrollBy(0, -70);")
        time.sleep(0.3)
        png = base64.b64decode(call(port, "GET", s + "/screenshot"))
        os.makedirs(os.path.dirname(os.path.abspath(OUT)), exist_ok=True)
        with open(OUT + ".tmp", "wb") as f:
            f.write(png)
        os.replace(OUT + ".tmp", OUT)
        print(OUT)
        call(port, "DELETE", s)
    finally:
        if driver: driver.terminate()
        serve.terminate()
        try: serve.wait(timeout=10)
        except subprocess.TimeoutExpired: serve.kill()
        shutil.rmtree(work, ignore_errors=True)


main()
