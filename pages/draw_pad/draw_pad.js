// The drawing pad of /image inside its Streamlit component frame.
//
// White strokes on a black 280 x 280 board. While you draw (once per animation frame) and when you lift the pen,
// the board is prepared like the training data (prepare.js, the port of vae/images.py), encoded and decoded by the
// browser model (vae_model.js), and the input, its reconstruction and the posterior (mean, 1σ and 2σ ellipses) on a
// small map of the test codes are redrawn here. Only when a stroke ends does the board go to Python, as a PNG data
// URL, for the rest of the page. Where the runtime cannot load, one line says so and Python does everything.
"use strict";

const STROKE_WIDTH = 18;
const USER_COLOR = "#111111";
const board = document.getElementById("board");
const pen = board.getContext("2d", {willReadFrequently: true});
const status = document.getElementById("status");
const mapDiv = document.getElementById("map");
let args = null; // the latest arguments from Python
let model = null; // the browser model, once loaded
let loadingFor; // the model URL being (or last) loaded; null when there is none
let mapFor = null; // the map JSON last drawn
let projection = null; // {kind, mean, components} of the map drawn
let last = null; // the pen's last point while a stroke is under way
let framePending = false;
window.__prepared = null; // the last prepared 28 x 28 input (784 grey levels), for the tests
window.__updates = 0; // live updates done by the browser model
window.__sent = 0; // boards sent to Python
window.__live = "loading"; // the browser model: "loading", "on" or "off"

function post(type, data) {
  window.parent.postMessage({isStreamlitMessage: true, type, ...data}, "*");
}

function fitHeight() {
  post("streamlit:setFrameHeight", {height: document.documentElement.scrollHeight});
}

function say(line) {
  status.textContent = line;
  fitHeight();
}

function clearBoard() {
  pen.fillStyle = "#000";
  pen.fillRect(0, 0, board.width, board.height);
}

function paintSmall(canvas, values, scale) {
  const g = canvas.getContext("2d"), image = g.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = values ? Math.round(values[i] * scale) : 0;
    image.data.set([v, v, v, 255], 4 * i);
  }
  g.putImageData(image, 0, 0);
}

// the k-sigma ellipse of a 2-D Gaussian (mean, covariance [[a, b], [b, d]]), as figures.ellipse_points draws it
function ellipse(mean, [[a, b], [, d]], k, n = 73) {
  const half = (a + d) / 2, root = Math.sqrt(((a - d) / 2) ** 2 + b * b);
  const l1 = half + root, l2 = Math.max(half - root, 0), angle = 0.5 * Math.atan2(2 * b, a - d);
  const c = Math.cos(angle), s = Math.sin(angle), x = [], y = [];
  for (let i = 0; i < n; i++) {
    const t = (2 * Math.PI * i) / (n - 1), u = k * Math.sqrt(l1) * Math.cos(t), v = k * Math.sqrt(l2) * Math.sin(t);
    x.push(mean[0] + c * u - s * v);
    y.push(mean[1] + s * u + c * v);
  }
  return {x, y};
}

// the posterior N(mu, diag(exp(logvar))) on the map: {mean, cov} (cov null for an autoencoder)
function onMap(mu, logvar) {
  const z = mu.length;
  if (projection.kind === "latent") {
    const cov = logvar && [[Math.exp(logvar[0]), 0], [0, Math.exp(logvar[1])]];
    return {mean: [mu[0], mu[1]], cov};
  }
  const P = projection.components, m = projection.mean, mean = [0, 0];
  for (let r = 0; r < 2; r++) for (let j = 0; j < z; j++) mean[r] += (mu[j] - m[j]) * P[r][j];
  if (!logvar) return {mean, cov: null};
  const cov = [[0, 0], [0, 0]];
  for (let r = 0; r < 2; r++) {
    for (let s = 0; s < 2; s++) for (let j = 0; j < z; j++) cov[r][s] += P[r][j] * Math.exp(logvar[j]) * P[s][j];
  }
  return {mean, cov};
}

function drawMap(spec) {
  projection = spec.projection;
  const traces = spec.names.map((name, c) => ({
    type: "scattergl", mode: "markers", name, x: [], y: [], hoverinfo: "skip",
    marker: {size: 2.5, color: spec.colors[c % spec.colors.length], opacity: 0.45},
  }));
  spec.labels.forEach((c, i) => {
    traces[c].x.push(spec.x[i]);
    traces[c].y.push(spec.y[i]);
  });
  const line = (dash) => ({type: "scatter", mode: "lines", x: [], y: [], hoverinfo: "skip", showlegend: false,
    line: {color: USER_COLOR, width: 1.4, dash}});
  traces.push(line("dot"), line("solid"), {
    type: "scatter", mode: "markers", x: [], y: [], hoverinfo: "skip", showlegend: false,
    marker: {symbol: "star", size: 16, color: USER_COLOR, line: {width: 1.2, color: "white"}},
  });
  // the test codes' extent, fixed: a wide posterior is clipped rather than shrinking the map
  const axis = (title, values) => {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    const pad = 0.05 * (hi - lo || 1);
    return {title: {text: title, standoff: 2}, zeroline: false, fixedrange: true, range: [lo - pad, hi + pad]};
  };
  return Plotly.newPlot(mapDiv, traces, {
    width: 280, height: 280, margin: {l: 36, r: 6, t: 6, b: 32}, showlegend: false, dragmode: false,
    xaxis: axis(spec.axis[0], spec.x), yaxis: axis(spec.axis[1], spec.y),
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "#fff",
  }, {displayModeBar: false});
}

function showPosterior(mu, logvar) {
  if (!projection || !mapDiv.data) return;
  const {mean, cov} = onMap(mu, logvar), n = mapDiv.data.length;
  const two = cov ? ellipse(mean, cov, 2) : {x: [], y: []}, one = cov ? ellipse(mean, cov, 1) : {x: [], y: []};
  Plotly.restyle(mapDiv, {x: [two.x, one.x, [mean[0]]], y: [two.y, one.y, [mean[1]]]}, [n - 3, n - 2, n - 1]);
  window.__posterior = {mean, cov};
}

// prepare the board, then (with the browser model) encode, decode and show the posterior
function update() {
  framePending = false;
  if (!args) return;
  const pixels = pen.getImageData(0, 0, board.width, board.height).data;
  const prepared = prepareDrawing(pixels, board.width, board.height, {mnist: args.mnist, autoInvert: args.auto_invert});
  window.__prepared = prepared && Array.from(prepared);
  paintSmall(document.getElementById("input"), prepared, 1);
  if (!model || !prepared) return;
  const x = Float32Array.from(prepared, (v) => v / 255);
  const {mu, logvar} = model.encode(x, 1);
  paintSmall(document.getElementById("recon"), model.decode(mu, 1), 255);
  showPosterior(mu, logvar);
  window.__updates++;
}

function point(e) {
  const r = board.getBoundingClientRect();
  return [((e.clientX - r.left) * board.width) / r.width, ((e.clientY - r.top) * board.height) / r.height];
}

function strokeTo(p) {
  pen.beginPath();
  pen.moveTo(...last);
  pen.lineTo(...p);
  pen.stroke();
  last = p;
  if (!framePending) {
    framePending = true;
    requestAnimationFrame(() => last && update()); // during the stroke: at most once per frame
  }
}

board.addEventListener("pointerdown", (e) => {
  board.setPointerCapture(e.pointerId);
  Object.assign(pen, {strokeStyle: "#fff", lineWidth: STROKE_WIDTH, lineCap: "round", lineJoin: "round"});
  last = point(e);
  strokeTo(last);
});
board.addEventListener("pointermove", (e) => {
  if (last) strokeTo(point(e));
});
function endStroke(e) {
  if (!last) return;
  strokeTo(point(e));
  last = null;
  update();
  window.__sent++;
  post("streamlit:setComponentValue", {value: board.toDataURL("image/png"), dataType: "json"});
}
board.addEventListener("pointerup", endStroke);
board.addEventListener("pointercancel", endStroke);
document.getElementById("clear").addEventListener("click", () => {
  clearBoard();
  update();
  paintSmall(document.getElementById("recon"), null, 0);
  if (mapDiv.data) {
    const n = mapDiv.data.length;
    Plotly.restyle(mapDiv, {x: [[], [], []], y: [[], [], []]}, [n - 3, n - 2, n - 1]);
  }
  post("streamlit:setComponentValue", {value: null, dataType: "json"});
});

const OFF = "Live preview off: the in-browser model could not load here, so the page updates when you lift the pen.";

function off() {
  window.__live = "off";
  say(OFF);
}

async function startModel(url) {
  loadingFor = url;
  if (model) model.dispose();
  model = null;
  window.__live = "loading";
  if (!url) return off();
  say("Loading the in-browser model…");
  try {
    await loadRuntimeScripts();
    const loaded = await loadModel(url, {parts: ["encoder", "decoder"]});
    if (loadingFor !== url) return loaded.dispose();
    model = loaded;
    window.__live = "on";
    say(model.kind === "vae" ? "" : "An autoencoder has no posterior spread: the star alone is drawn.");
    update();
  } catch (error) {
    console.warn("draw pad:", error);
    if (loadingFor === url) off();
  }
}

async function startMap(json) {
  mapFor = json;
  try {
    if (!window.Plotly) await loadScript("plotly.min.js");
    await drawMap(JSON.parse(json));
    fitHeight();
    if (model) update();
  } catch (error) {
    console.warn("draw pad map:", error);
  }
}

clearBoard();
paintSmall(document.getElementById("recon"), null, 0);
window.addEventListener("message", (e) => {
  if (!e.data || e.data.type !== "streamlit:render") return;
  args = e.data.args;
  if (e.data.theme) document.body.style.color = e.data.theme.textColor;
  fitHeight();
  if (args.model_url !== loadingFor) startModel(args.model_url);
  if (args.map !== mapFor) startMap(args.map);
  if (model) update(); // the dataset or the inversion setting may have changed
});
post("streamlit:componentReady", {apiVersion: 1});
