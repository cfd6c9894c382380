"""Headless Chromium helpers for the benchmarks: timing what the user sees, measured in the page's own clock.

`instrument(page)` installs a small probe in the page: a key press or pointer press starts the clock (the
event's own timestamp), and the probe notes when, after that, (a) a new decoded image has loaded and a frame
has been painted, and (b) the map has changed: Plotly redrew it (`plotly_afterplot`) or moved its crosshair
(`plotly_relayout`). The map of /map lives in a component frame of the same origin; the probe reaches into
it, and converts that frame's event times to the page's clock. The floor page (bench/floor_app.py) is timed so.

/map decodes in its frame and paints a <canvas>: `instrument_map(page)` installs a probe there, timed on the frame's
own clock: `arm_map(page)` before a gesture; the gesture's first key press or pointer event starts the clock (its
timestamp) and the first paint of the decoded canvas after it stops it (`wait_map_painted`). The paint is timed
inside the animation frame that draws it, as the floor's image is timed at the animation frame after it loaded.
"""

from __future__ import annotations

from contextlib import contextmanager

from bench.server import launch_chromium

# The decoded image of /map: a keyed container if the page gives it one, else the first image of the main area
# (the decode panel is drawn before the selection details and the prior samples).
DECODED_IMAGE = ".st-key-map_decoded img, [data-testid='stMain'] [data-testid='stImage'] img"
MAP_FRAME = "[data-testid='stMain'] iframe[title$='latent_map']"

_PROBE = """
([decodedSelector, frameSelector]) => {
  if (window.__probe) return;
  const probe = window.__probe = {start: 0, src: '', shown: 0, plotted: 0, lastPlot: 0, points: 0};
  const decoded = () => document.querySelector(decodedSelector);
  probe.decoded = decoded;
  const arm = (e, doc) => {
    const img = decoded();
    // an event in the frame: its timestamp counts from the frame's time origin
    const t = e.timeStamp + doc.defaultView.performance.timeOrigin - performance.timeOrigin;
    Object.assign(probe, {start: t, src: img ? img.src : '', shown: 0, plotted: 0});
  };
  const hookChart = () => {
    const frame = document.querySelector(frameSelector);
    const doc = frame && frame.contentDocument;
    const gd = doc && doc.querySelector('.js-plotly-plot');
    if (doc && !doc.__probeArmed) {
      doc.__probeArmed = true;
      doc.addEventListener('pointerdown', (e) => arm(e, doc), true);
    }
    if (!gd || gd.__probeHooked || !gd.on) return;
    gd.__probeHooked = true;
    const changed = () => {
      const now = performance.now();
      probe.lastPlot = now;
      probe.points = (gd._fullData || []).reduce((n, t) => n + (t.visible !== false && t.x ? t.x.length : 0), 0);
      if (probe.start && !probe.plotted && now > probe.start) probe.plotted = now;
    };
    gd.on('plotly_afterplot', changed);
    gd.on('plotly_relayout', changed);
  };
  const check = () => {
    hookChart();
    const img = decoded();
    if (!probe.start || probe.shown || !img) return;
    if (img.src && img.src !== probe.src && img.complete && img.naturalWidth > 0) {
      probe.newSrc = img.src;
      requestAnimationFrame(() => { if (!probe.shown) probe.shown = performance.now(); });
    }
  };
  new MutationObserver(check).observe(document.body, {subtree: true, childList: true, attributes: true,
                                                      attributeFilter: ['src']});
  document.addEventListener('load', check, true);
  document.addEventListener('keydown', (e) => arm(e, document), true);
  document.addEventListener('pointerdown', (e) => arm(e, document), true);
  probe.check = check;
  hookChart();
}
"""


@contextmanager
def chromium():
    """A headless Chromium (bench.server.find_chromium), closed at the end of the block."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, errors: list[str] | None = None):
    """A 1280 x 800 page; uncaught page errors are appended to `errors`."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    if errors is not None:
        page.on("pageerror", lambda e: errors.append(str(e)))
    return page


def instrument(page) -> None:
    page.evaluate(_PROBE, [DECODED_IMAGE, MAP_FRAME])


_MAP_PROBE = """() => {
  if (window.__mapProbe) return;
  const p = window.__mapProbe = {armed: false, start: 0, painted: 0};
  const ctx = document.getElementById('decoded').getContext('2d');
  for (const name of ['putImageData', 'drawImage']) {  // the browser's decode, or the server's image
    const own = ctx[name].bind(ctx);
    ctx[name] = (...args) => {
      own(...args);
      if (p.start && !p.painted) p.painted = performance.now();
    };
  }
  const arm = (e) => {
    if (!p.armed) return;
    p.armed = false;
    p.start = e.timeStamp;
  };
  for (const type of ['keydown', 'pointerdown', 'pointermove']) document.addEventListener(type, arm, true);
}"""


def _map_frame_handle(page):
    return page.locator(MAP_FRAME).element_handle().content_frame()


def instrument_map(page) -> None:
    """Install the paint probe in the /map chart's frame (see the module's docstring)."""
    _map_frame_handle(page).evaluate(_MAP_PROBE)


def arm_map(page) -> None:
    """The next key press or pointer event in the /map frame starts the clock."""
    _map_frame_handle(page).evaluate("() => Object.assign(window.__mapProbe, {armed: true, start: 0, painted: 0})")


def wait_map_painted(page, timeout_ms: float = 10_000) -> float:
    """Milliseconds, on the frame's clock, from the armed event to the next paint of the decoded canvas."""
    frame = _map_frame_handle(page)
    frame.wait_for_function("() => window.__mapProbe.painted > 0", timeout=timeout_ms, polling="raf")
    return frame.evaluate("() => window.__mapProbe.painted - window.__mapProbe.start")


def map_frame(page):
    """The frame of the /map chart (a Playwright FrameLocator)."""
    return page.frame_locator(MAP_FRAME)


def map_plot_area(page) -> dict:
    """The bounding box of the map's plot area, in page coordinates."""
    return map_frame(page).locator(".nsewdrag").first.bounding_box()


def wait_map_drawn(page, min_points: int = 1, timeout_ms: float = 120_000) -> None:
    """Wait until the map has been plotted with at least `min_points` points and the decoded image has loaded: an
    st.image on the page, or the chart's own canvas once the browser has decoded into it."""
    page.wait_for_function(
        """([decodedSelector, frameSelector, minPoints]) => {
            const img = document.querySelector(decodedSelector);
            const frame = document.querySelector(frameSelector);
            const gd = frame && frame.contentDocument && frame.contentDocument.querySelector('.js-plotly-plot');
            const painted = frame && frame.contentWindow && frame.contentWindow.__decodedFrames > 0;
            if (!(painted || (img && img.complete && img.naturalWidth)) || !gd || !gd._fullData) return false;
            const n = gd._fullData.reduce((n, t) => n + (t.visible !== false && t.x ? t.x.length : 0), 0);
            return n >= minPoints && gd.querySelector('canvas, .scatterlayer');
        }""",
        arg=[DECODED_IMAGE, MAP_FRAME, min_points],
        timeout=timeout_ms,
        polling="raf",
    )


def wait_shown(page, need_plot: bool = True, timeout_ms: float = 30_000) -> dict:
    """Wait until, since the last press, the new decoded image is shown (and the map redrawn, if `need_plot`).

    Returns the probe's times in ms after the press: {'image': ..., 'map': ...}.
    """
    condition = "p.shown && p.plotted" if need_plot else "p.shown"
    page.wait_for_function(
        f"() => {{ const p = window.__probe; p.check(); return {condition}; }}", timeout=timeout_ms, polling="raf"
    )
    probe = page.evaluate("() => ({start: __probe.start, shown: __probe.shown, plotted: __probe.plotted})")
    return {
        "image": probe["shown"] - probe["start"],
        "map": (probe["plotted"] - probe["start"]) if probe["plotted"] else None,
    }


def wait_quiet(page, timeout_ms: float = 30_000) -> None:
    """Wait until the app has finished its run (no 'running' indicator) so presses do not overlap."""
    page.wait_for_function(
        '() => !document.querySelector(\'[data-testid="stStatusWidget"] [data-testid="stStatusWidgetRunningIcon"]\')'
        " && !document.querySelector('[data-testid=\"stAppRunning\"], .stAppRunning')",
        timeout=timeout_ms,
        polling="raf",
    )


def canvas_cells(selector: str = "canvas") -> str:
    """A page function: the pixels at the centre of each of the 28 x 28 cells of every canvas matching `selector`,
    0..255 (red channel), one list of 784 per canvas."""
    return (
        f"() => Array.from(document.querySelectorAll({selector!r}), (c) => {{"
        """
  const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, cell = c.width / 28, out = [];
  for (let r = 0; r < 28; r++) for (let k = 0; k < 28; k++) {
    out.push(data[4 * (Math.floor(cell * (r + 0.5)) * c.width + Math.floor(cell * (k + 0.5)))]);
  }
  return out;
})"""
    )
