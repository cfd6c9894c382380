// The latent map inside its Streamlit component frame.
//
// Streamlit's own Plotly chart redraws every point whenever its figure changes, so moving the decoded point
// used to redraw the whole map. Here the points are drawn only when the figure itself changes (a new model,
// projection or manifold overlay); a selection only adds overlay traces, and the crosshair is a few SVG
// shapes moved with Plotly.relayout.
// Clicks anywhere in the plot area, and box or lasso selections, go back to Python as
// {event, selection: {points, box, lasso}}, the shape of st.plotly_chart's selection.
//
// The decode panel beside the map: the decoded image, one slider per latent dimension and, where Python sends a
// direction, one more that moves the code along it. After the first draw
// the page loads the browser runtime and the model's decoder (scripts injected then, so the first visit draws as
// fast as before); from then on a slider's input and the pointer over the map are decoded here, once per animation
// frame, and a slider reports its code to Python only on release ({event, code}). Where the runtime or the model
// cannot load, the panel reports {runtime: "unavailable"} once and shows the image Python decodes.
"use strict";

const gd = document.getElementById("map");
const DOUBLE_CLICK_MS = 300;
let shown = { figure: null, overlays: null, crosshair: null, height: null };
let base = null; // the last figure's traces and layout, kept as objects
let home = null; // its axes before any zoom
let overlayRevision = 0;
let color = null; // the crosshair's, from Python
let pointClicked = null; // the test image Plotly reported under the last click
let lastClick = null; // the last click's pointerup, to tell a double click

const problem = document.getElementById("problem"); // one sentence where the map cannot be drawn
const canvas = document.getElementById("decoded");
const caption = document.getElementById("caption");
const slidersBox = document.getElementById("sliders");
const directionBox = document.getElementById("direction"); // the slider along a vector, where Python sends one
let panel = null; // {ranges, step, labels, projection} from Python, as a JSON string and parsed
let sliders = []; // the <input type=range> elements, one per latent dimension
let along = null; // the direction's <input type=range>, or null
let serverCode = null; // the last code Python sent (JSON), so only a new one moves the sliders
let serverImage = null; // Python's decode of it (a data: URI)
let decoder = null; // {url, model} once the browser decoder is loaded
let runtime = "loading"; // "loading", "ready" or "unavailable"
let runtimeStarted = null; // the promise that loads the runtime and the first decoder, once
let hovered = null; // the map point under the pointer, or null
let frameRequested = false;
let sliding = false; // a slider is held: Python's answers to earlier releases do not move it
let firstImageShown = false;
const overlayPainted = []; // when each manifold overlay the browser decoded was painted (performance.now())

function send(value) {
  // The event time makes every click a new value, also a second click on the same spot.
  if (runtime === "unavailable") value.runtime = "unavailable";
  component.setValue({ event: Date.now(), ...value });
}

function report(selection) {
  send({ selection });
}

function crosshairShapes(point) {
  if (!point) return [];
  const [x, y] = point;
  const line = { color, width: 1, dash: "dot" };
  return [
    { type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1, line, layer: "above" },
    { type: "line", xref: "paper", yref: "y", x0: 0, x1: 1, y0: y, y1: y, line, layer: "above" },
    {
      type: "circle",
      xref: "x",
      yref: "y",
      xsizemode: "pixel",
      ysizemode: "pixel",
      xanchor: x,
      yanchor: y,
      x0: -8,
      x1: 8,
      y0: -8,
      y1: 8,
      line: { color, width: 2.5 },
      layer: "above",
    },
  ];
}

function moveCrosshair(point) {
  const key = JSON.stringify(point);
  if (key === shown.crosshair) return Promise.resolve();
  shown.crosshair = key;
  return Plotly.relayout(gd, { shapes: crosshairShapes(point) });
}

function afterPaint() {
  return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

function themed(layout, theme) {
  if (!theme) return layout;
  return {
    ...layout,
    paper_bgcolor: theme.backgroundColor || layout.paper_bgcolor,
    font: { ...(layout.font || {}), family: theme.font || "sans-serif", color: theme.textColor },
  };
}

// --- The decode panel ------------------------------------------------------------------------------------------

for (const box of [slidersBox, directionBox]) {
  box.addEventListener("pointerdown", () => {
    sliding = true;
  });
}
document.addEventListener(
  "pointerup",
  () => {
    sliding = false;
  },
  true,
);

function buildSliders(spec) {
  slidersBox.replaceChildren();
  slidersBox.classList.toggle("two", spec.labels.length > 4);
  slidersBox.style.maxHeight = spec.labels.length > 4 ? "230px" : "";
  sliders = spec.ranges.map(([lo, hi], i) => {
    const label = document.createElement("label");
    const name = document.createElement("b");
    name.textContent = spec.labels[i];
    const input = document.createElement("input");
    // Steps of 0.01, so every code Python sends (two decimals) is on them; an arrow key moves by spec.step.
    Object.assign(input, { type: "range", min: lo, max: hi, step: 0.01 });
    input.addEventListener("keydown", (e) => {
      const sign = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1 }[e.key];
      if (!sign) return;
      e.preventDefault();
      input.value = Math.round((Number(input.value) + sign * spec.step) * 100) / 100;
      input.dispatchEvent(new Event("input"));
      input.dispatchEvent(new Event("change"));
    });
    input.setAttribute("aria-label", spec.labels[i]);
    const value = document.createElement("span");
    label.append(name, input, value);
    slidersBox.append(label);
    input.addEventListener("input", () => {
      showValues();
      requestFrame();
    });
    input.addEventListener("change", () => send({ code: sliderCode() }));
    return input;
  });
}

// The slider along spec.direction ({label, origin, vector, range}): the code is origin + t·vector, set on the z
// sliders as it moves, so the decoding, the crosshair and the release are theirs.
function buildDirection(spec) {
  directionBox.replaceChildren();
  along = null;
  const dir = spec.direction;
  if (!dir) return;
  const label = document.createElement("label");
  const name = document.createElement("b");
  name.textContent = dir.label;
  name.title = `${dir.label}: from −2σ to +2σ along the vector, through the mean code`;
  along = document.createElement("input");
  Object.assign(along, { type: "range", min: dir.range[0], max: dir.range[1], step: 0.01, value: 0 });
  along.setAttribute("aria-label", `along ${dir.label}`);
  const value = document.createElement("span");
  label.append(name, along, value);
  directionBox.append(label);
  along.addEventListener("input", () => {
    const t = Number(along.value);
    sliders.forEach((s, i) => {
      s.value = dir.origin[i] + t * dir.vector[i];
    });
    showValues();
    requestFrame();
  });
  along.addEventListener("change", () => send({ code: sliderCode() }));
}

// Where the z sliders' code lies along the direction (its projection on the vector).
function showAlong() {
  if (!along) return;
  const dir = panel.direction;
  const t = sliderCode().reduce((sum, v, i) => sum + (v - dir.origin[i]) * dir.vector[i], 0);
  if (document.activeElement !== along) along.value = t;
  along.nextElementSibling.textContent = Number(along.value).toFixed(2);
}

function sliderCode() {
  return sliders.map((s) => Math.round(Number(s.value) * 100) / 100);
}

function showValues() {
  for (const s of sliders) s.nextElementSibling.textContent = Number(s.value).toFixed(2);
  showAlong();
  const code = sliderCode();
  caption.textContent =
    code.length === 2
      ? `z₁ = ${code[0] >= 0 ? "+" : ""}${code[0].toFixed(2)}, z₂ = ${code[1] >= 0 ? "+" : ""}${code[1].toFixed(2)}`
      : `A ${code.length}-D code; the ring marks where it falls on the map.`;
}

// Map point (x, y) <-> code, as vae.latent.MapProjection does (null for UMAP until its points are loaded).
function toMap(code) {
  return component.toMap(panel.projection, code);
}

function toLatent(point) {
  return component.toLatent(panel.projection, point, sliders.length);
}

function paintProbabilities(probs) {
  component.paint(canvas, probs);
  component.count("__decodedFrames"); // images decoded and painted in this page
  imageShown();
}

// When the panel first showed a decoded image, Python's or the browser's, in ms since the epoch (bench/cold_start.py
// reads it: a probe in the app's page cannot run while this frame draws the map).
function imageShown() {
  if (firstImageShown) return;
  firstImageShown = true;
  component.hook("__firstImageAt", performance.timeOrigin + performance.now());
}

// Python's decode of the sliders' code, until the browser decodes; the promise resolves once it is painted.
function paintServerImage() {
  if (!serverImage) return Promise.resolve();
  const img = new Image();
  const src = serverImage;
  img.src = src;
  return img.decode().then(
    () => {
      if (runtime === "ready" || src !== serverImage) return; // the browser decodes by now, or a newer one came
      canvas.getContext("2d").drawImage(img, 0, 0, 28, 28);
      imageShown();
    },
    (err) => console.warn("latent map: the server's image did not decode", err),
  );
}

function decodeHere(code) {
  if (code.length !== decoder.model.latentDim) return; // another model's code, while its decoder loads
  paintProbabilities(decoder.model.decode(Float32Array.from(code), 1));
}

// The pointer's point while it hovers the map, else the sliders' code: decoded once per animation frame.
function requestFrame() {
  if (frameRequested || !panel) return;
  frameRequested = true;
  requestAnimationFrame(() => {
    frameRequested = false;
    const code = sliderCode();
    if (runtime === "ready") decodeHere((hovered && toLatent(hovered)) || code);
    if (!hovered && shown.figure) {
      const point = toMap(code);
      if (point) moveCrosshair(point);
    }
  });
}

// The panel for these arguments; returns the promise of Python's image painted, where the panel shows it.
function updatePanel(args) {
  document.getElementById("panel").hidden = !args.panel;
  let painted = Promise.resolve();
  if (!args.panel) return painted; // the map alone
  if (args.panel !== panel?.json) {
    panel = { ...JSON.parse(args.panel), json: args.panel };
    buildSliders(panel);
    buildDirection(panel);
    serverCode = null;
    component.loadPoints(panel.projection);
  }
  const code = JSON.stringify(args.code);
  if (code !== serverCode && !sliding) {
    // a new code from Python (a click, a button, a link): the sliders move
    serverCode = code;
    args.code.forEach((v, i) => {
      sliders[i].value = v;
    });
    showValues();
    if (runtime === "ready") decodeHere(args.code);
  }
  if (args.image !== serverImage) {
    serverImage = args.image;
    if (runtime !== "ready") painted = paintServerImage();
  }
  wantModel(args.model);
  return painted;
}

// Another model chosen: the server's images until its decoder is loaded.
let wantedModel = null;
function wantModel(url) {
  const previous = wantedModel;
  wantedModel = url;
  if (!decoder || runtime === "unavailable" || url === previous) return; // loadRuntime loads the first one
  runtime = "loading";
  hideTiles();
  paintServerImage();
  loadDecoder(url)
    .then(() => {
      if (wantedModel !== url) return;
      runtime = "ready";
      decodeHere(sliderCode());
      if (!viewIsHome()) requestOverlay();
    })
    .catch(fail);
}

function fail(err) {
  console.warn("latent map: decoding on the server;", err);
  runtime = "unavailable";
  paintServerImage();
  send({});
}

// --- The manifold overlay, following the view ------------------------------------------------------------------
// Python lays its grid (Kingma & Welling's, over its span) on the figure as layout images. After a zoom or pan the
// browser decodes args.tiles x args.tiles evenly spaced points of the visible range in one batch and paints them on
// its own canvas, between Plotly's background layer (which holds Python's tiles) and its WebGL points: no Plotly
// redraw, and no image encoded and decoded on the way. The canvas is opaque over the range it was decoded for,
// blended as Python's 85%-opaque tiles are; while a pan drags the view it moves with the data.

let tiles = null; // tiles per side while the overlay is on, else null
let overlayRequested = false;
const sheet = document.createElement("canvas"); // the browser's tiles, once decoded
sheet.id = "tiles";
sheet.style.cssText = "position: absolute; pointer-events: none; display: none;";
const sheetClip = document.createElement("div"); // the plot area: the tiles never cover the axes
sheetClip.style.cssText = "position: absolute; overflow: hidden; pointer-events: none;";
sheetClip.append(sheet);
let sheetRange = null; // [xl, xh, yl, yh]: the data range the tiles were decoded for

let homeView = null; // the axes' ranges as a new view was first drawn (Plotly's, after keeping the aspect)
let homeRevision = null; // that figure's uirevision: a figure with another starts a new view

function currentView() {
  return JSON.stringify([gd._fullLayout.xaxis.range, gd._fullLayout.yaxis.range]);
}

function viewIsHome() {
  return currentView() === homeView;
}

function visibleRange(xRange = gd._fullLayout.xaxis.range, yRange = gd._fullLayout.yaxis.range) {
  const [x0, x1] = xRange.map(Number),
    [y0, y1] = yRange.map(Number);
  return [Math.min(x0, x1), Math.max(x0, x1), Math.min(y0, y1), Math.max(y0, y1)];
}

// The tiles where their data range falls in `view` (the axes' range, or a pan's while it drags).
function placeTiles(view = visibleRange()) {
  if (!sheetRange) return;
  const { l, t, w, h } = gd._fullLayout._size;
  const glLayer = gd.querySelector(".gl-container");
  if (sheetClip.nextSibling !== glLayer) glLayer.before(sheetClip); // Plotly rebuilds its layers on a new plot
  Object.assign(sheetClip.style, { left: `${l}px`, top: `${t}px`, width: `${w}px`, height: `${h}px` });
  const [vxl, vxh, vyl, vyh] = view,
    [xl, xh, yl, yh] = sheetRange;
  const px = (x) => ((x - vxl) / (vxh - vxl)) * w,
    py = (y) => ((vyh - y) / (vyh - vyl)) * h;
  Object.assign(sheet.style, {
    display: "block",
    left: `${px(xl)}px`,
    top: `${py(yh)}px`,
    width: `${px(xh) - px(xl)}px`,
    height: `${py(yl) - py(yh)}px`,
  });
}

function hideTiles() {
  sheetRange = null;
  sheet.style.display = "none";
}

function requestOverlay() {
  if (!tiles || runtime !== "ready" || overlayRequested) return;
  overlayRequested = true;
  queueMicrotask(() => {
    // at once, once for all the relayouts of one event
    overlayRequested = false;
    if (tiles && runtime === "ready") decodeOverlay(tiles);
  });
}

function rgb(color) {
  const probe = document.createElement("canvas").getContext("2d");
  probe.fillStyle = color;
  const hex = probe.fillStyle; // "#rrggbb" for an opaque colour
  return hex.startsWith("#") ? [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)) : [255, 255, 255];
}

function decodeOverlay(n) {
  const [xl, xh, yl, yh] = visibleRange();
  const dim = sliders.length,
    codes = new Float32Array(n * n * dim);
  if (dim !== decoder.model.latentDim) return; // another model's, while its decoder loads
  for (let r = 0; r < n; r++) {
    // row 0 at the top: the largest y
    for (let c = 0; c < n; c++) {
      const code = toLatent([xl + ((c + 0.5) * (xh - xl)) / n, yh - ((r + 0.5) * (yh - yl)) / n]);
      if (!code) return; // UMAP before its points are loaded
      codes.set(code, (r * n + c) * dim);
    }
  }
  const probs = decoder.model.decode(codes, n * n);
  const cell = 30; // a 28-pixel tile and a 2-pixel gap, as Python's tiles fill 96% of their cell
  const side = n * cell,
    ink = 0.85; // Python's tiles' opacity over the plot's background
  const background = rgb(gd._fullLayout.plot_bgcolor);
  const pixels = new Uint8ClampedArray(side * side * 4);
  new Uint32Array(pixels.buffer).fill(new Uint32Array(Uint8ClampedArray.of(...background, 255).buffer)[0]); // RGBA
  for (let t = 0; t < n * n; t++) {
    const x0 = (t % n) * cell + 1,
      y0 = Math.floor(t / n) * cell + 1;
    for (let i = 0; i < 784; i++) {
      const v = 255 - Math.min(Math.max(probs[t * 784 + i], 0), 1) * 255; // ink dark on white
      const at = 4 * ((y0 + Math.floor(i / 28)) * side + x0 + (i % 28));
      for (let k = 0; k < 3; k++) pixels[at + k] = ink * v + (1 - ink) * background[k];
    }
  }
  sheet.width = sheet.height = side;
  sheet.getContext("2d").putImageData(new ImageData(pixels, side, side), 0, 0);
  sheetRange = [xl, xh, yl, yh];
  sheet.dataset.range = JSON.stringify(sheetRange);
  placeTiles();
  component.count("__overlayDecodes");
  // the animation frame that paints the new tiles (bench/gestures.py reads the times)
  requestAnimationFrame(() => {
    overlayPainted.push(performance.now());
    component.hook("__overlayPainted", overlayPainted);
  });
}

async function loadDecoder(url) {
  const model = await component.loadModel(url, ["decoder"]);
  if (decoder) decoder.model.dispose();
  decoder = { url, model };
}

// After the map is drawn: the runtime's scripts, then the decoder. Any failure leaves the server decoding.
function loadRuntime(args) {
  if (runtimeStarted || !args.panel) return;
  runtimeStarted = (async () => {
    let url;
    do {
      // until the model wanted is the one loaded (another may be chosen meanwhile)
      url = wantedModel;
      await loadDecoder(url);
    } while (url !== wantedModel);
    runtime = "ready";
    decodeHere(sliderCode());
    if (!viewIsHome()) requestOverlay();
  })().catch(fail);
}

// The figure is a file named for its content (pages/map_chart: figure_url), fetched when it changes.
async function fetchFigure(url) {
  const response = await fetch(url).catch(() => null);
  if (!response) throw new Error("its figure did not load (no answer from the server)");
  if (!response.ok) throw new Error(`its figure did not load (HTTP ${response.status} for ${url})`);
  return response.json();
}

// plotly.js, loaded once the first decoded image is on screen (index.html preloads the file meanwhile).
let plotlyLoading = null;
function plotly() {
  plotlyLoading ||= component.loadScript("plotly.min.js");
  return plotlyLoading;
}

async function draw(args, theme) {
  color = args.color;
  tiles = args.tiles;
  const painted = updatePanel(args);
  if (args.height !== shown.height) component.setHeight(args.height);
  shown.height = args.height;
  const fetching = args.figure !== shown.figure ? fetchFigure(args.figure) : null;
  if (!plotlyLoading) await painted; // the first visit: the decoded image before plotly.js and the points
  if (fetching) {
    const [figure] = await Promise.all([fetching, plotly()]);
    const layout = { dragmode: "pan", ...themed(figure.layout, theme), clickmode: "event", height: args.height };
    layout.margin = { ...(layout.margin || {}), t: Math.max(layout.margin?.t || 0, 28) }; // room for the modebar
    base = { data: figure.data, layout };
    home = homeAxes(figure.layout);
    if (figure.layout.uirevision !== homeRevision) homeView = null; // another model or projection: a new view
    homeRevision = figure.layout.uirevision;
  } else if (args.overlays === shown.overlays) {
    return moveCrosshair(args.crosshair);
  } else {
    // A new selection redraws the WebGL points; the page's own update (the decoded image) is painted first.
    await moveCrosshair(args.crosshair);
    await afterPaint();
  }
  // The same trace objects as last time, so Plotly.react redraws only what changed (the overlays). The overlays'
  // rings now show the selection, so a new selectionrevision clears Plotly's own box or lasso and its dimming
  // (uirevision would keep them).
  for (const trace of base.data) delete trace.selectedpoints; // set on these very objects by Plotly's select tool
  const data = [...base.data, ...JSON.parse(args.overlays || "[]")];
  const layout = { ...base.layout, shapes: crosshairShapes(args.crosshair), selectionrevision: ++overlayRevision };
  await Plotly.react(gd, data, layout, {
    displaylogo: false,
    scrollZoom: false,
    responsive: true,
    doubleClick: false, // Plotly's counts any two clicks within 300 ms, anywhere: see isDoubleClick
  });
  const newFigure = args.figure !== shown.figure;
  shown = { ...shown, figure: args.figure, overlays: args.overlays, crosshair: JSON.stringify(args.crosshair) };
  if (newFigure && homeView === null) homeView = currentView();
  listen();
  loadRuntime(args);
  if (!tiles || (newFigure && viewIsHome())) hideTiles(); // Python's grid is the one for this view
  if (!viewIsHome())
    requestOverlay(); // a new grid in a zoomed view: the browser's tiles for what is visible
  else placeTiles();
}

// Two clicks on one spot. Plotly's own rule (any two clicks within 300 ms) took two quick clicks on two points
// for a double click: it reset the zoom and redrew every point before the second click was reported.
function isDoubleClick(e) {
  const previous = lastClick;
  lastClick = { time: e.timeStamp, x: e.clientX, y: e.clientY };
  return (
    previous !== null &&
    e.timeStamp - previous.time < DOUBLE_CLICK_MS &&
    Math.hypot(e.clientX - previous.x, e.clientY - previous.y) <= component.CLICK_SLOP_PX
  );
}

// The figure's own axes, as Plotly's double click restores them (Plotly changes base.layout's as one zooms).
function homeAxes(layout) {
  const axes = {};
  for (const axis of ["xaxis", "yaxis"]) {
    const range = layout[axis]?.range;
    axes[`${axis}.range`] = range ? [...range] : null;
    axes[`${axis}.autorange`] = !range;
  }
  return axes;
}

function resetAxes() {
  return Plotly.relayout(gd, { ...home });
}

function clickAt(e) {
  const rect = component.plotArea(gd);
  const xa = gd._fullLayout.xaxis;
  const ya = gd._fullLayout.yaxis;
  const [px, py] = [e.clientX - rect.left, e.clientY - rect.top];
  // Plotly names the point it last hovered, and its hover lags a fast pointer: a point far from this click is the
  // previous click's.
  const p = pointClicked;
  const near = p && Math.hypot(xa.d2p(p.x) - px, ya.d2p(p.y) - py) <= gd._fullLayout.hoverdistance;
  const point = near ? p : { x: xa.p2d(px), y: ya.p2d(py) };
  pointClicked = null;
  report({ points: [point], box: [], lasso: [] });
  moveCrosshair([point.x, point.y]); // at once, before Python answers
}

// A Plotly event point as st.plotly_chart reports it; customdata is the test image's index.
function asPoint(p) {
  return { x: p.x, y: p.y, customdata: p.customdata, curve_number: p.curveNumber, point_index: p.pointIndex };
}

let listening = false;
function listen() {
  if (listening) return;
  listening = true;
  gd.on("plotly_click", (ev) => {
    const p = ev?.points?.find((q) => q.customdata !== undefined);
    if (p) pointClicked = asPoint(p);
  });
  gd.on("plotly_selected", (ev) => {
    if (!ev) return;
    const points = ev.points.filter((p) => p.customdata !== undefined).map(asPoint);
    report({
      points,
      box: ev.range ? [{ x: ev.range.x, y: ev.range.y }] : [],
      lasso: ev.lassoPoints ? [{ x: ev.lassoPoints.x, y: ev.lassoPoints.y }] : [],
    });
  });
  gd.on("plotly_deselect", () => report({ points: [], box: [], lasso: [] }));
  gd.on("plotly_relayout", (ev) => {
    placeTiles(); // the old tiles where their data now is (after a zoom, a pan or a resize)
    if (Object.keys(ev || {}).some((k) => k.startsWith("xaxis.") || k.startsWith("yaxis."))) requestOverlay();
  });
  gd.on("plotly_relayouting", (ev) => {
    // a pan, while it drags: the tiles move with the data
    const range = (axis) => [0, 1].map((i) => ev[`${axis}.range[${i}]`] ?? gd._fullLayout[axis].range[i]);
    placeTiles(visibleRange(range("xaxis"), range("yaxis")));
  });
  // Plotly reports clicks on points only; a press and release in place anywhere in the plot area is a click.
  const pressing = component.onClickInPlace(
    (e) => {
      pointClicked = null;
      const dragmode = gd._fullLayout.dragmode;
      const clickable = dragmode === "pan" || dragmode === "zoom";
      return clickable && component.pointAt(gd, e) !== null && e.target.closest(".modebar") === null;
    },
    (e) => {
      if (isDoubleClick(e)) resetAxes();
      setTimeout(() => clickAt(e), 0); // after Plotly's own mouseup, which reports a point under the pointer
    },
  );
  // The pointer over the plot area decodes the point under it; off the plot, the image is the sliders' point again.
  document.addEventListener("pointermove", (e) => {
    const free = !pressing() && e.buttons === 0 && e.target.closest(".modebar") === null;
    const point = free ? component.pointAt(gd, e) : null;
    if (point === null && hovered === null) return;
    hovered = point;
    requestFrame();
  });
  document.documentElement.addEventListener("pointerleave", () => {
    hovered = null;
    requestFrame();
  });
}

// The frame is served by the app's own server, so it can reuse the app's web fonts (fonts load only when used).
function borrowFonts() {
  const rules = [];
  for (const sheet of window.parent.document.styleSheets) {
    let list;
    try {
      list = sheet.cssRules;
    } catch {
      continue;
    } // another origin's sheet
    for (const rule of list) {
      if (rule instanceof window.parent.CSSFontFaceRule) {
        rules.push(
          rule.cssText.replace(
            /url\("([^"]+)"\)/g,
            (_, src) => `url("${new URL(src, sheet.href || window.parent.location.href)}")`,
          ),
        );
      }
    }
  }
  const style = document.createElement("style");
  style.textContent = rules.join("\n");
  document.head.appendChild(style);
}

try {
  borrowFonts();
} catch (err) {
  console.warn("latent map: app fonts not available", err);
}
component.onRender(
  (args, theme) =>
    draw(args, theme).then(
      () => {
        problem.hidden = true;
      },
      (err) => {
        console.error("latent map:", err);
        problem.textContent = `The map could not be drawn: ${err.message}. Reload the page to try again.`;
        problem.hidden = false;
      },
    ),
  { __decodedFrames: 0, __overlayDecodes: 0 },
);
