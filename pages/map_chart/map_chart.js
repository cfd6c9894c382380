// The latent map inside its Streamlit component frame.
//
// Streamlit's own Plotly chart redraws every point whenever its figure changes, so moving the decoded point
// used to redraw the whole map. Here the points are drawn only when the figure itself changes (a new model,
// projection or manifold overlay); a selection only adds overlay traces, and the crosshair is a few SVG
// shapes moved with Plotly.relayout.
// Clicks anywhere in the plot area, and box or lasso selections, go back to Python as
// {event, selection: {points, box, lasso}}, the shape of st.plotly_chart's selection.
"use strict";

const gd = document.getElementById("map");
const CLICK_SLOP_PX = 4; // a press that moves further is a drag (pan, zoom, box), not a click
const DOUBLE_CLICK_MS = 300;
let shown = { figureId: null, overlays: null, crosshair: null, height: null };
let base = null; // the last figure's traces and layout, kept as objects
let home = null; // its axes before any zoom
let overlayRevision = 0;
let color = null; // the crosshair's, from Python
let pressed = null; // where a press inside the plot area started
let pointClicked = null; // the test image Plotly reported under the last click
let lastClick = null; // the last click's pointerup, to tell a double click
let drawing = Promise.resolve(); // renders run one after another (Plotly's calls are asynchronous)

function post(type, data) {
  window.parent.postMessage({ isStreamlitMessage: true, type, ...data }, "*");
}

function report(selection) {
  // The event time makes every click a new value, also a second click on the same spot.
  post("streamlit:setComponentValue", { value: { event: Date.now(), selection }, dataType: "json" });
}

function crosshairShapes(point) {
  if (!point) return [];
  const [x, y] = point;
  const line = { color, width: 1, dash: "dot" };
  return [
    { type: "line", xref: "x", yref: "paper", x0: x, x1: x, y0: 0, y1: 1, line, layer: "above" },
    { type: "line", xref: "paper", yref: "y", x0: 0, x1: 1, y0: y, y1: y, line, layer: "above" },
    {
      type: "circle", xref: "x", yref: "y", xsizemode: "pixel", ysizemode: "pixel", xanchor: x, yanchor: y,
      x0: -8, x1: 8, y0: -8, y1: 8, line: { color, width: 2.5 }, layer: "above",
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

async function draw(args, theme) {
  color = args.color;
  if (args.height !== shown.height) post("streamlit:setFrameHeight", { height: args.height });
  shown.height = args.height;
  if (args.figure_id !== shown.figureId) {
    const figure = JSON.parse(args.figure);
    const layout = { dragmode: "pan", ...themed(figure.layout, theme), clickmode: "event", height: args.height };
    layout.margin = { ...(layout.margin || {}), t: Math.max(layout.margin?.t || 0, 28) }; // room for the modebar
    base = { data: figure.data, layout };
    home = homeAxes(figure.layout);
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
    displaylogo: false, scrollZoom: false, responsive: true,
    doubleClick: false, // Plotly's counts any two clicks within 300 ms, anywhere: see isDoubleClick
  });
  shown = { ...shown, figureId: args.figure_id, overlays: args.overlays, crosshair: JSON.stringify(args.crosshair) };
  listen();
}

function plotArea() {
  const drag = gd.querySelector(".nsewdrag");
  return drag ? drag.getBoundingClientRect() : null;
}

function inside(rect, e) {
  return rect && e.clientX >= rect.left && e.clientX <= rect.right && e.clientY >= rect.top && e.clientY <= rect.bottom;
}

// Two clicks on one spot. Plotly's own rule (any two clicks within 300 ms) took two quick clicks on two points
// for a double click: it reset the zoom and redrew every point before the second click was reported.
function isDoubleClick(e) {
  const previous = lastClick;
  lastClick = { time: e.timeStamp, x: e.clientX, y: e.clientY };
  return previous !== null && e.timeStamp - previous.time < DOUBLE_CLICK_MS &&
    Math.hypot(e.clientX - previous.x, e.clientY - previous.y) <= CLICK_SLOP_PX;
}

// The figure's own axes, as Plotly's double click restores them (Plotly changes base.layout's as one zooms).
function homeAxes(layout) {
  const axes = {};
  for (const axis of ["xaxis", "yaxis"]) {
    const range = layout[axis] && layout[axis].range;
    axes[`${axis}.range`] = range ? [...range] : null;
    axes[`${axis}.autorange`] = !range;
  }
  return axes;
}

function resetAxes() {
  return Plotly.relayout(gd, { ...home });
}

function clickAt(e) {
  const rect = plotArea();
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
    const p = ev && ev.points && ev.points.find((q) => q.customdata !== undefined);
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
  // Plotly reports clicks on points only; a press and release in place anywhere in the plot area is a click.
  document.addEventListener("pointerdown", (e) => {
    const dragmode = gd._fullLayout.dragmode;
    const clickable = dragmode === "pan" || dragmode === "zoom";
    pressed = clickable && inside(plotArea(), e) && e.target.closest(".modebar") === null ? e : null;
    pointClicked = null;
  }, true);
  document.addEventListener("pointerup", (e) => {
    const start = pressed;
    pressed = null;
    if (!start || Math.hypot(e.clientX - start.clientX, e.clientY - start.clientY) > CLICK_SLOP_PX) return;
    if (isDoubleClick(e)) resetAxes();
    setTimeout(() => clickAt(e), 0); // after Plotly's own mouseup, which reports a point under the pointer
  }, true);
}

// The frame is served by the app's own server, so it can reuse the app's web fonts (fonts load only when used).
function borrowFonts() {
  const rules = [];
  for (const sheet of window.parent.document.styleSheets) {
    let list;
    try { list = sheet.cssRules; } catch { continue; } // another origin's sheet
    for (const rule of list) {
      if (rule instanceof window.parent.CSSFontFaceRule) {
        rules.push(rule.cssText.replace(/url\("([^"]+)"\)/g, (_, src) => `url("${new URL(src, sheet.href || window.parent.location.href)}")`));
      }
    }
  }
  const style = document.createElement("style");
  style.textContent = rules.join("\n");
  document.head.appendChild(style);
}

try { borrowFonts(); } catch (err) { console.warn("latent map: app fonts not available", err); }
window.addEventListener("message", (e) => {
  if (!e.data || e.data.type !== "streamlit:render") return;
  const { args, theme } = e.data;
  drawing = drawing.then(() => draw(args, theme)).catch((err) => console.error("latent map:", err));
});
post("streamlit:componentReady", { apiVersion: 1 });
