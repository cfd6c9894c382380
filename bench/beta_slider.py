"""The β slider of /elbo against the floor, in headless Chromium, each timed on the page's own clock.

The floor is bench/floor_app.py on its own server (one st.slider and one pre-rendered st.image): an arrow key on
the slider -> the new image loaded and the next frame. The β slider swaps the sweep's models in its frame: timed
from the arrow key's event to the next animation frame after the last of its three canvases (map, grid, samples)
was drawn. The two are interleaved, one of each per round, so drift on a shared machine hits them alike; the β
slider's key is also a release, so each press waits for the server's rerun to end before the next. Goal (issue
"Inside the ELBO"): median <= 0.25x the floor's.

    python -m bench.beta_slider                    # own servers on $VAE_CHECKPOINTS, 40 rounds
    python -m bench.beta_slider --rounds 20 --json beta.json
"""

from __future__ import annotations

from bench.browser import chromium, new_page, wait_quiet
from bench.latency import against_floor, open_floor, press_floor, summary

FRAME = "iframe[title$='beta_sweep']"
MODEL = "sweep-mnist-b1"
GOALS = (0.25, 0.5)  # median, p95 as a fraction of the floor's

# In the β slider's frame: the key's timestamp, and the next animation frame after the samples canvas (drawn last
# by a swap) is drawn.
_PROBE = """() => {
  if (window.__betaProbe) return;
  const p = window.__betaProbe = {armed: false, start: 0, shown: 0};
  const ctx = document.getElementById('samples').getContext('2d');
  const own = ctx.drawImage.bind(ctx);
  ctx.drawImage = (...args) => {
    own(...args);
    if (p.start && !p.shown) requestAnimationFrame(() => { p.shown = p.shown || performance.now(); });
  };
  document.addEventListener('keydown', (e) => {
    if (!p.armed) return;
    p.armed = false;
    p.start = e.timeStamp;
  }, true);
}"""


def _frame(page):
    return page.locator(FRAME).element_handle().content_frame()


def press_beta(page, i: int) -> float | None:
    frame = _frame(page)
    frame.locator("#beta").focus()
    frame.evaluate("() => Object.assign(window.__betaProbe, {armed: true, start: 0, shown: 0})")
    page.keyboard.press("ArrowRight" if (i // 7) % 2 == 0 else "ArrowLeft")  # seven steps one way, seven back
    try:
        frame.wait_for_function("() => window.__betaProbe.shown > 0", timeout=10_000, polling="raf")
        return frame.evaluate("() => window.__betaProbe.shown - window.__betaProbe.start")
    except Exception:  # playwright TimeoutError: nothing was drawn
        return None
    finally:
        wait_quiet(page)  # the key's change event reruns the page once: let it end before the next press


def run(url: str, floor_url: str, rounds: int) -> dict[str, list]:
    results: dict[str, list] = {"floor": [], "beta": []}
    errors: list[str] = []
    with chromium() as browser:
        floor = open_floor(browser, floor_url, errors)
        page = new_page(browser, errors)
        page.goto(f"{url}/elbo?model={MODEL}")
        page.locator(FRAME).wait_for(timeout=120_000)
        page.locator(FRAME).scroll_into_view_if_needed()
        _frame(page).wait_for_function("() => window.__betaMode === 'live'", timeout=120_000)
        _frame(page).locator("#beta").evaluate("(s) => { s.value = '0'; }")  # start at the autoencoder's end
        wait_quiet(page)
        _frame(page).evaluate(_PROBE)
        for i in range(rounds):
            results["floor"].append(press_floor(floor, i))
            results["beta"].append(press_beta(page, i))
        results["swap_ms"] = _frame(page).evaluate("() => window.__betaSwapMs")
    results["page errors"] = errors
    return results


def main(argv: list[str] | None = None) -> int:
    return against_floor(
        argv,
        "python -m bench.beta_slider",
        __doc__,
        run,
        lambda results: summary(results, ("floor", "beta"), {"beta": GOALS}),
        lambda results: "/elbo β slider key -> the next model drawn, vs the floor page, headless Chromium 1280x800",
        40,
    )


if __name__ == "__main__":
    raise SystemExit(main())
