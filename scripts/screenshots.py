"""Screenshots of the Dagster UI for the README, taken with headless Chromium driven by Playwright.

Runs `sync-pipeline demo --days 2` into a temporary DAGSTER_HOME and SQLite database (or uses the runs already
in `--dagster-home PATH`), starts `dagster-webserver -w workspace.yaml` on 127.0.0.1, and saves 1600x1000 PNGs
into `--output` (default docs/images/):

    asset-graph.png   the global asset lineage, top to bottom, every group expanded, the whole graph in view
    asset-checks.png  normalized_orders' asset page, on its Checks tab
    runs.png          the runs list, newest first: the demo's sync_metrics, health_check, inventory_sync ... runs

The webserver is stopped at the end, also on error. The UI's first-visit pop-up ("Join the Dagster community")
is kept away by the browser-side flag it checks (localStorage `communityNux`), by `nux: enabled: false` in a
temporary DAGSTER_HOME, and clicked away ("Skip") should it show anyway.

Needs Playwright's Python package and Debian's Chromium, not Playwright's own browsers:

    .venv/bin/pip install playwright      # no `playwright install`
    apt-get install chromium              # /usr/bin/chromium; another one: --chromium PATH

    .venv/bin/python scripts/screenshots.py [--output DIR] [--port N] [--dagster-home PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

PROJECT = Path(__file__).resolve().parents[1]
VIEWPORT = {"width": 1600, "height": 1000}
CHECKS_ASSET = "normalized_orders"
STARTUP_TIMEOUT = 180  # seconds: the webserver answering and the code location loaded
PAGE_TIMEOUT = 60_000  # milliseconds: one page rendered
# The pop-up Dagster 1.13 shows on a first visit to a localhost UI (ui-core NUX/CommunityNux.tsx) stays closed once
# this key holds "1" (JSON), what its Skip button writes; set before any page script runs.
DISMISS_POPUPS = "try { window.localStorage.setItem('communityNux', JSON.stringify('1')); } catch (e) {}"
# The lineage drawn top to bottom (the graph settings' "orientation"): this graph's groups side by side then, wider
# than tall like the screen, where left to right stacks them into a tall column.
VERTICAL_GRAPH = ("try { window.localStorage.setItem('asset-graph-direction', JSON.stringify('vertical')); }"
                  " catch (e) {}")
# A group's id in the graph's `expanded` parameter (ui-core asset-graph/Utils.tsx groupIdForNode, groups not per
# code location, the default).
GROUP_ID = "global@global:{}"
SPINNER = "[role=progressbar][aria-label=loading]"
# Whether the graph's viewport shows any / every asset's name: in full, or cut in the middle ("stg_o…_sync_errors").
_GRAPH_SHOWS = r"""names => {
    const graph = document.querySelector('[data-svg-viewport]');
    if (!graph) return false;
    const words = graph.innerText.split(/\s+/);
    const cut = words.filter(w => w.includes('…')).map(w => w.split('…'));
    const shown = n => words.includes(n)
        || cut.some(([head, tail]) => head.length > 0 && n.startsWith(head) && n.endsWith(tail));
    return names.%s(shown);
}"""
GRAPH_SHOWS_ANY, GRAPH_SHOWS_ALL = _GRAPH_SHOWS % "some", _GRAPH_SHOWS % "every"
# The graph's scale now, and the largest at which all of it fits in the viewport (with a margin).
FIT_SCALES = """() => {
    const viewport = document.querySelector('[data-svg-viewport]');
    const svg = viewport.querySelector(':scope > div > svg');
    const scale = parseFloat(/matrix\\(([^,]+)/.exec(viewport.firstElementChild.style.transform)[1]);
    const width = parseFloat(svg.getAttribute('width')), height = parseFloat(svg.getAttribute('height'));
    return [scale, 0.97 * Math.min(viewport.clientWidth / width, viewport.clientHeight / height)];
}"""
# The screen box round the graph's groups, nodes and edges, as drawn now: [left, top, right, bottom].
CONTENT_BOX = """() => {
    const parts = document.querySelectorAll('[data-svg-viewport] svg > foreignObject, [data-svg-viewport] svg > path');
    const boxes = [...parts].map(e => e.getBoundingClientRect()).filter(r => r.width > 0 && r.height > 0);
    return [Math.min(...boxes.map(r => r.left)), Math.min(...boxes.map(r => r.top)),
            Math.max(...boxes.map(r => r.right)), Math.max(...boxes.map(r => r.bottom))];
}"""
# The first line down the graph's viewport where the viewport itself shows, under whatever toolbar lies over it.
FREE_TOP = """() => {
    const viewport = document.querySelector('[data-svg-viewport]');
    const r = viewport.getBoundingClientRect();
    const free = x => {
        for (let y = r.top; y < r.top + r.height / 2; y += 2) {
            if (viewport.contains(document.elementFromPoint(x, y))) return y;
        }
        return r.top;
    };
    return Math.max(...[0.25, 0.5, 0.75].map(f => free(r.left + f * r.width)));
}"""
ASSETS_QUERY = ("{ assetNodes { assetKey { path } groupName"
                " assetChecksOrError { ... on AssetChecks { checks { name } } } } }")


class ScreenshotError(Exception):
    """Reported on one line, without a traceback."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check_port_free(port: int) -> None:
    """Another server on the port would answer for the webserver that could not bind it."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise ScreenshotError(f"port {port} on 127.0.0.1 is taken ({exc.strerror}): give another with --port, "
                                  f"or none for a free one") from None


def _executable(name: str) -> str:
    """A console script of this environment (the venv the script runs in), else one on PATH."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        raise ScreenshotError(f"{name} not found next to {sys.executable} or on PATH: run this with the project's "
                              f"venv, .venv/bin/python scripts/screenshots.py")
    return found


def _check_requirements(chromium: str) -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise ScreenshotError("the playwright package is missing: .venv/bin/pip install playwright "
                              "(no `playwright install` needed: Debian's chromium is used)") from None
    if not (Path(chromium).is_file() and os.access(chromium, os.X_OK)):
        raise ScreenshotError(f"chromium not found at {chromium}: apt-get install chromium "
                              f"(or give another with --chromium PATH)")


def _run_demo(env: dict[str, str], log: Path) -> None:
    print("running the demo (sync-pipeline demo --days 2) ...", file=sys.stderr, flush=True)
    with log.open("w") as out:
        result = subprocess.run([_executable("sync-pipeline"), "demo", "--days", "2"], check=False, cwd=PROJECT,
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    # A channel whose run fails still records its runs, and the screenshots show that; a demo that never ran does not.
    if result.returncode not in (0, 1):
        raise ScreenshotError(f"the demo failed (exit {result.returncode}): {_tail(log)}")


def _tail(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip() if lines else f"nothing in {log}"


def _start_webserver(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            [_executable("dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=PROJECT, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopping it stops the code server it starts too
        )


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def _wait_for_assets(url: str, process: subprocess.Popen, log: Path) -> list[dict]:
    """Poll until the webserver answers and has loaded the code location's assets; returns them."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            raise ScreenshotError(f"dagster-webserver exited ({process.returncode}): {_tail(log)}")
        if time.monotonic() > deadline:
            raise ScreenshotError(f"dagster-webserver on {url} not ready after {STARTUP_TIMEOUT}s: {_tail(log)}")
        try:
            response = requests.post(f"{url}/graphql", json={"query": ASSETS_QUERY}, timeout=30)
            if response.ok and (nodes := (response.json().get("data") or {}).get("assetNodes")):
                return nodes
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.5)


def _settle(page, *texts: str) -> None:
    """Wait until the page shows every one of `texts` and no loading spinner, then a moment for layout/animation."""
    for text in texts:
        page.get_by_text(text, exact=True).first.wait_for(state="visible", timeout=PAGE_TIMEOUT)
    page.wait_for_function(f"() => !document.querySelector({SPINNER!r})", timeout=PAGE_TIMEOUT)
    page.wait_for_load_state("networkidle", timeout=PAGE_TIMEOUT)
    page.wait_for_timeout(1000)


def _close_popups(page) -> None:
    """Click away a first-visit dialog should one show despite the localStorage flag (none is fine)."""
    for name in ("Skip", "Dismiss", "Close", "Got it", "No thanks"):
        button = page.locator("[role=dialog]").get_by_role("button", name=name, exact=True)
        if button.count() and button.first.is_visible():
            button.first.click()
            page.locator("[role=dialog]").first.wait_for(state="hidden", timeout=10_000)
            return


def _shoot(page, path: Path) -> None:
    _close_popups(page)
    page.mouse.move(0, VIEWPORT["height"] - 1)  # no hover highlight or tooltip in the picture
    page.wait_for_timeout(300)
    page.screenshot(path=str(path))
    print(f"  {path.relative_to(PROJECT) if path.is_relative_to(PROJECT) else path} "
          f"({path.stat().st_size // 1024} KB)", file=sys.stderr)


def _wheel(page, dx: float, dy: float, zoom: bool = False) -> None:
    """One wheel step at the viewport's centre: a pan, or with ctrl a zoom about that centre (SVGViewport)."""
    if zoom:
        page.keyboard.down("Control")
    page.mouse.wheel(dx, dy)
    if zoom:
        page.keyboard.up("Control")
    page.wait_for_timeout(400)  # SVGViewport takes one wheel event per frame


def _zoom_by(page, factor: float) -> None:
    # SVGViewport: scale * (1 - deltaY * speed), speed 0.002 for a pixel step over 30 and 0.01 for a smaller one
    delta = (1 - factor) / 0.002
    _wheel(page, 0, delta if abs(delta) > 30 else (1 - factor) / 0.01, zoom=True)


def _fit_graph(page, names: list[str]) -> None:
    """The whole graph in view, as large as the viewport allows. A double click on the background autocenters it
    (SVGViewport), fitted to the viewport's width; a graph taller than that is zoomed out to its height. Nodes are
    drawn only once in view, so then every asset's name shows; the drawing's box has margins round the groups, so
    last the groups and edges are centred and zoomed to fill the viewport."""
    viewport = page.locator("[data-svg-viewport]").first
    viewport.dispatch_event("dblclick")
    page.wait_for_timeout(1000)
    box = viewport.bounding_box()
    # The graph's toolbar (the asset search) lies over the viewport's top: the picture's room starts below it.
    inset = page.evaluate(FREE_TOP) - box["y"] + 6
    box = {**box, "y": box["y"] + inset, "height": box["height"] - inset}
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    scale, fit = page.evaluate(FIT_SCALES)
    if fit < scale:
        _zoom_by(page, fit / scale)
    page.wait_for_function(GRAPH_SHOWS_ALL, arg=names, timeout=PAGE_TIMEOUT, polling=500)
    for _ in range(4):  # a wheel step's pan is not always taken whole: measure again until it sits
        left, top, right, bottom = page.evaluate(CONTENT_BOX)
        pan_x = box["x"] + box["width"] / 2 - (left + right) / 2
        pan_y = box["y"] + box["height"] / 2 - (top + bottom) / 2
        factor = 0.94 * min(box["width"] / (right - left), box["height"] / (bottom - top))
        if abs(pan_x) <= 3 and abs(pan_y) <= 3 and abs(factor - 1) <= 0.02:
            break
        if abs(pan_x) > 3 or abs(pan_y) > 3:
            _wheel(page, -pan_x / 0.7, -pan_y / 0.7)  # a plain wheel step pans by 0.7 of its delta
        if abs(factor - 1) > 0.02:
            _zoom_by(page, factor)


def _take_screenshots(url: str, assets: list[dict], output: Path, chromium: str) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    groups = sorted({node["groupName"] for node in assets if node.get("groupName")})
    names = ["/".join(node["assetKey"]["path"]) for node in assets]
    checks = next((sorted(c["name"] for c in (node.get("assetChecksOrError") or {}).get("checks", []))
                   for node in assets if "/".join(node["assetKey"]["path"]) == CHECKS_ASSET), None)
    if not checks:
        raise ScreenshotError(f"the code location has no asset {CHECKS_ASSET} with checks, for asset-checks.png")
    output.mkdir(parents=True, exist_ok=True)
    step = "starting chromium"
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True)
            context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
            context.add_init_script(DISMISS_POPUPS)
            context.add_init_script(VERTICAL_GRAPH)
            page = context.new_page()
            page.set_default_timeout(PAGE_TIMEOUT)

            # The global lineage, every group open (the graph's `expanded` parameter), fitted to the viewport.
            step = "the asset graph"
            page.goto(f"{url}/asset-groups?expanded={','.join(GROUP_ID.format(group) for group in groups)}")
            _settle(page, *groups)
            for _ in range(2):  # groups still closed (ids of another form): ⌥E toggles "expand / collapse all groups"
                try:
                    page.wait_for_function(GRAPH_SHOWS_ANY, arg=names, timeout=10_000, polling=500)
                    break
                except PlaywrightTimeout:
                    page.locator("[data-svg-viewport]").first.focus()
                    page.keyboard.press("Alt+KeyE")
            page.wait_for_function(GRAPH_SHOWS_ANY, arg=names, timeout=PAGE_TIMEOUT, polling=500)
            # The asset tree beside the graph closed (its button next to "Jump to…"): the graph gets the room.
            hide = page.locator("input[placeholder^='Jump to'] >> xpath=ancestor::div[.//button][1]//button")
            if hide.count():
                hide.first.click()
                page.wait_for_timeout(500)
            _fit_graph(page, names)
            page.wait_for_function(GRAPH_SHOWS_ALL, arg=names, timeout=PAGE_TIMEOUT, polling=500)
            _settle(page, *groups)
            _shoot(page, output / "asset-graph.png")

            step = f"{CHECKS_ASSET}'s checks"
            page.goto(f"{url}/assets/{CHECKS_ASSET}?view=checks")
            _settle(page, CHECKS_ASSET, *checks)
            _shoot(page, output / "asset-checks.png")

            step = "the runs list"
            page.goto(f"{url}/runs")
            page.locator("a[href^='/runs/']").first.wait_for(state="visible")  # a run's id: the table is filled
            _settle(page)
            _shoot(page, output / "runs.png")
        except PlaywrightError as exc:
            message = str(exc).strip().splitlines()
            raise ScreenshotError(f"{step}: {message[0] if message else type(exc).__name__}"
                                  + (f" ({message[-1].strip()})" if len(message) > 1 else "")) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=PROJECT / "docs" / "images",
                        help="folder for the PNGs (default: docs/images)")
    parser.add_argument("--port", type=int, help="the webserver's port (default: a free one)")
    parser.add_argument("--dagster-home", type=Path,
                        help="show the runs already in this DAGSTER_HOME instead of running a demo into a "
                             "temporary one")
    parser.add_argument("--chromium", default="/usr/bin/chromium",
                        help="the Chromium binary (default: /usr/bin/chromium)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        _check_requirements(args.chromium)
        if args.port:
            _check_port_free(args.port)
        with tempfile.TemporaryDirectory(prefix="screenshots-") as folder:
            tmp = Path(folder)
            env = dict(os.environ)
            if args.dagster_home:
                home = args.dagster_home.resolve()
                if not (home / "storage").is_dir() and not (home / "dagster.yaml").is_file():
                    raise ScreenshotError(f"{home} holds no Dagster instance (no dagster.yaml, no storage/)")
                env["DAGSTER_HOME"] = str(home)
            else:
                home = tmp / "dagster_home"
                home.mkdir()
                # The demo keeps a dagster.yaml it finds; this one also turns the first-visit pop-up off server-side.
                (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nnux:\n  enabled: false\n")
                env.update(DAGSTER_HOME=str(home), SYNC_DATABASE_URL=f"sqlite:///{tmp / 'sync.db'}")
                _run_demo(env, tmp / "demo.log")
            port = args.port or _free_port()
            url = f"http://127.0.0.1:{port}"
            log = tmp / "webserver.log"
            print(f"starting dagster-webserver on {url} ...", file=sys.stderr, flush=True)
            webserver = _start_webserver(env, port, log)
            try:
                assets = _wait_for_assets(url, webserver, log)
                _take_screenshots(url, assets, args.output.resolve(), args.chromium)
            finally:
                _stop(webserver)
    except ScreenshotError as exc:
        print(f"screenshots: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(f"done in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
