"""How fast the app feels: first render of every page, a widget change's rerun, server memory.

Starts the app on a free port, opens every page once to warm it (imports, cached models), then, in a
fresh tab per open (one browser profile, so static assets are cached as for a returning visitor),
measures the time from navigation until the page is *drawn*: the server's ``script_finished`` message,
the heading, every plotly figure rendered (an SVG inside each chart) and no spinner left. A rerun is
measured by changing the sidebar seed on each page, and a *reaction* (a control that needs no new
computation: the pointer's step slider, the connectome's window slider) by pressing the slider, each
until the page is drawn again. Memory is the resident set of the server process (and children) after
every page has been opened.

Run: ``.venv/bin/python benchmarks/ui.py`` (writes ``benchmarks/results/ui.json``).
Targets: first view < 3 s per warm page; a reaction that needs no computation < 1 s; server RSS <= 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.serve import CHROMIUM_FLAGS, chromium_path, running_app  # noqa: E402
from lab.core.registry import LABS  # noqa: E402

PAGES = ["home", *[info.key for info in LABS], "runs"]


def page_url(base: str, name: str) -> str:
    return base if name == "home" else f"{base}/{name}"  # the default page lives at the root
FIRST_VIEW_TARGET_S = 3.0
REACTION_TARGET_S = 1.0
#: A control per page that only changes the view: (query string that opens its tab, what to press).
REACTIONS = {
    "pointer": "?method=untrained:ptrnet&n=20&pointer-tab=Step+through+the+pointer",
    "connectome": "?connectome-tab=Affinity",
}
STABLE_S = 0.3  # DRAWN_JS asks for 300 ms without change: the page was drawn that long before it says so
DRAWN_JS = """() => {
  // Drawn: a heading, no spinner or running indicator, every plotly chart rendered (an SVG inside), and the
  // number of charts unchanged for 300 ms (elements still arriving would otherwise count as "no charts").
  if (!document.querySelector('h1')) return false;
  if (document.querySelector('[data-testid="stSpinner"]')) return false;
  if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
  const charts = [...document.querySelectorAll('[data-testid="stPlotlyChart"]')];
  if (!charts.every(c => c.querySelector('.main-svg'))) return false;
  const now = performance.now(), key = charts.length + ':' + document.querySelectorAll('[data-testid]').length;
  if (window.__drawnKey !== key) { window.__drawnKey = key; window.__drawnSince = now; return false; }
  return now - window.__drawnSince >= 300;
}"""
RSS_TARGET_MB = 1536


class ScriptRuns:
    """Listens to the page's websocket and timestamps every ``script_finished`` message from the server.

    This is when Streamlit has sent the last element of a run: the honest end of a (re)run, whether or
    not the 'Running...' indicator ever showed.
    """

    def __init__(self, page) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        self._msg = ForwardMsg
        self.finished: list[float] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._on_frame))

    def _on_frame(self, payload) -> None:
        if isinstance(payload, str):
            return
        msg = self._msg()
        try:
            msg.ParseFromString(payload)
        except Exception:
            return
        if msg.WhichOneof("type") == "script_finished":
            self.finished.append(time.perf_counter())

    def wait_for_run(self, page, after: float, timeout_s: float = 120) -> float:
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            done = [t for t in self.finished if t > after]
            if done:
                return done[0]
            page.wait_for_timeout(20)
        raise TimeoutError("the script did not finish")


def _timed_open(context, url: str) -> float:
    """Seconds from navigation to the first finished script run with its heading drawn."""
    page = context.new_page()
    runs = ScriptRuns(page)
    start = time.perf_counter()
    page.goto(url)
    runs.wait_for_run(page, start)
    page.wait_for_function(DRAWN_JS, timeout=120_000, polling=20)
    seconds = time.perf_counter() - start - STABLE_S
    page.close()
    return seconds


def _timed_press(context, url: str, control: str, before=None) -> float:
    """Open ``url``, press Enter/ArrowRight on ``control``; seconds until the page is drawn again."""
    page = context.new_page()
    runs = ScriptRuns(page)
    page.goto(url)
    runs.wait_for_run(page, 0.0)
    page.wait_for_function(DRAWN_JS, timeout=120_000, polling=20)
    target = page.locator(control).first
    key = before(target) if before else "ArrowRight"
    page.evaluate("window.__drawnKey = null")  # "unchanged since" counts from after the press
    start = time.perf_counter()
    target.press(key)
    runs.wait_for_run(page, start)
    page.wait_for_function(DRAWN_JS, timeout=120_000, polling=20)
    seconds = time.perf_counter() - start - STABLE_S
    page.close()
    return seconds


def _timed_reaction(context, url: str) -> float:
    """ArrowRight on the first slider of the page's main area (a view change, no new computation)."""
    return _timed_press(context, url, "[data-testid='stMain'] [data-testid='stSlider'] input[type='range']",
                        lambda thumb: (thumb.focus(), "ArrowRight")[1])


def _timed_rerun(context, url: str) -> float:
    """A new sidebar seed (a rerun that may recompute)."""
    return _timed_press(context, url, "[data-testid='stSidebar'] input[type='number']",
                        lambda seed: (seed.fill("7"), "Enter")[1])


def _rss_mb(pid: int) -> float:
    import psutil

    proc = psutil.Process(pid)
    return (proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))) / 2**20


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed opens per page (median is reported)")
    parser.add_argument("--output", default=str(ROOT / "benchmarks" / "results" / "ui.json"))
    args = parser.parse_args()

    executable = chromium_path()
    if executable is None:
        print("Chromium is not installed (apt-get install -y chromium).", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    results: dict = {"pages": {}, "targets": {"first_view_s": FIRST_VIEW_TARGET_S, "reaction_s": REACTION_TARGET_S,
                                               "server_rss_mb": RSS_TARGET_MB}}
    with tempfile.TemporaryDirectory() as home, running_app({"DYNLAB_HOME": home, "DYNLAB_DEVICE": "cpu"}) as (url, proc):
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            for name in PAGES:  # warm: first visit pays imports and model loading
                cold = _timed_open(context, page_url(url, name))
                results["pages"][name] = {"cold_first_view_s": round(cold, 3)}
            results["server_rss_mb_after_all_pages"] = round(_rss_mb(proc.pid), 1)
            for name in PAGES:
                warm = sorted(_timed_open(context, page_url(url, name)) for _ in range(args.repeats))
                rerun = _timed_rerun(context, page_url(url, name))
                results["pages"][name].update(
                    {"warm_first_view_s": round(warm[len(warm) // 2], 3), "seed_change_rerun_s": round(rerun, 3)}
                )
                if name in REACTIONS:
                    _timed_reaction(context, page_url(url, name) + REACTIONS[name])  # warm the tab's cache
                    times = sorted(_timed_reaction(context, page_url(url, name) + REACTIONS[name])
                                   for _ in range(args.repeats))
                    results["pages"][name]["slider_reaction_s"] = round(times[len(times) // 2], 3)
            context.close()
            browser.close()
            results["server_rss_mb_at_end"] = round(_rss_mb(proc.pid), 1)
    worst = max(p["warm_first_view_s"] for p in results["pages"].values())
    results["worst_warm_first_view_s"] = worst
    results["meets_first_view_target"] = worst < FIRST_VIEW_TARGET_S
    reactions = [p["slider_reaction_s"] for p in results["pages"].values() if "slider_reaction_s" in p]
    results["worst_slider_reaction_s"] = max(reactions) if reactions else None
    results["meets_reaction_target"] = bool(reactions) and max(reactions) < REACTION_TARGET_S
    results["meets_memory_target"] = results["server_rss_mb_at_end"] <= RSS_TARGET_MB
    results["machine"] = {"cpus": __import__("os").cpu_count()}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
