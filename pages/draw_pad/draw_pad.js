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
const pen = board.getContext("2d", { willReadFrequently: true });
const status = document.getElementById("status");
const mapDiv = document.getElementById("map");
let args = null; // the latest arguments from Python
let model = null; // the browser model, once loaded
let loadingFor; // the model URL being (or last) loaded; null when there is none
let mapFor = null; // the map JSON last drawn
let projection = null; // the map drawn: vae.latent.MapProjection.spec()
let last = null; // the pen's last point while a stroke is under way
let framePending = false;
// Test hooks (component.hook): __prepared, the last prepared 28 x 28 input (784 grey levels); __updates, live
// updates done by the browser model; __sent, boards sent to Python; __live, the browser model: "loading", "on" or
// "off"; __posterior, the last posterior drawn on the map.
const HOOKS = { __prepared: null, __updates: 0, __sent: 0, __live: "loading" };

function fitHeight() {
  component.setHeight(document.documentElement.scrollHeight);
}

function say(line) {
  status.textContent = line;
  fitHeight();
}

function clearBoard() {
  pen.fillStyle = "#000";
  pen.fillRect(0, 0, board.width, board.height);
}

// the k-sigma ellipse of a 2-D Gaussian (mean, covariance [[a, b], [b, d]]), as figures.ellipse_points draws it
function ellipse(mean, [[a, b], [, d]], k, n = 73) {
  const half = (a + d) / 2,
    root = Math.sqrt(((a - d) / 2) ** 2 + b * b);
  const l1 = half + root,
    l2 = Math.max(half - root, 0),
    angle = 0.5 * Math.atan2(2 * b, a - d);
  const c = Math.cos(angle),
    s = Math.sin(angle),
    x = [],
    y = [];
  for (let i = 0; i < n; i++) {
    const t = (2 * Math.PI * i) / (n - 1),
      u = k * Math.sqrt(l1) * Math.cos(t),
      v = k * Math.sqrt(l2) * Math.sin(t);
    x.push(mean[0] + c * u - s * v);
    y.push(mean[1] + s * u + c * v);
  }
  return { x, y };
}

function drawMap(spec) {
  projection = spec.projection;
  const traces = spec.names.map((name, c) => ({
    type: "scattergl",
    mode: "markers",
    name,
    x: [],
    y: [],
    hoverinfo: "skip",
    marker: { size: 2.5, color: spec.colors[c % spec.colors.length], opacity: 0.45 },
  }));
  spec.labels.forEach((c, i) => {
    traces[c].x.push(spec.x[i]);
    traces[c].y.push(spec.y[i]);
  });
  const line = (dash) => ({
    type: "scatter",
    mode: "lines",
    x: [],
    y: [],
    hoverinfo: "skip",
    showlegend: false,
    line: { color: USER_COLOR, width: 1.4, dash },
  });
  traces.push(line("dot"), line("solid"), {
    type: "scatter",
    mode: "markers",
    x: [],
    y: [],
    hoverinfo: "skip",
    showlegend: false,
    marker: { symbol: "star", size: 16, color: USER_COLOR, line: { width: 1.2, color: "white" } },
  });
  // the test codes' extent, fixed: a wide posterior is clipped rather than shrinking the map
  const axis = (title, values) => {
    let lo = Infinity,
      hi = -Infinity;
    for (const v of values) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    const pad = 0.05 * (hi - lo || 1);
    return { title: { text: title, standoff: 2 }, zeroline: false, fixedrange: true, range: [lo - pad, hi + pad] };
  };
  return Plotly.newPlot(
    mapDiv,
    traces,
    {
      width: 280,
      height: 280,
      margin: { l: 36, r: 6, t: 6, b: 32 },
      showlegend: false,
      dragmode: false,
      xaxis: axis(spec.axis[0], spec.x),
      yaxis: axis(spec.axis[1], spec.y),
      paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "#fff",
    },
    { displayModeBar: false },
  );
}

function showPosterior(mu, logvar) {
  if (!projection || !mapDiv.data) return;
  const { mean, cov } = component.posteriorOnMap(projection, mu, logvar),
    n = mapDiv.data.length;
  const two = cov ? ellipse(mean, cov, 2) : { x: [], y: [] },
    one = cov ? ellipse(mean, cov, 1) : { x: [], y: [] };
  Plotly.restyle(mapDiv, { x: [two.x, one.x, [mean[0]]], y: [two.y, one.y, [mean[1]]] }, [n - 3, n - 2, n - 1]);
  component.hook("__posterior", { mean, cov });
}

// prepare the board, then (with the browser model) encode, decode and show the posterior
function update() {
  framePending = false;
  if (!args) return;
  const pixels = pen.getImageData(0, 0, board.width, board.height).data;
  const prepared = prepareDrawing(pixels, board.width, board.height, {
    mnist: args.mnist,
    autoInvert: args.auto_invert,
  });
  component.hook("__prepared", prepared && Array.from(prepared));
  component.paint(document.getElementById("input"), prepared, 255);
  if (!model || !prepared) return;
  const x = Float32Array.from(prepared, (v) => v / 255);
  const { mu, logvar } = model.encode(x, 1);
  component.paint(document.getElementById("recon"), model.decode(mu, 1));
  showPosterior(mu, logvar);
  component.count("__updates");
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
  Object.assign(pen, { strokeStyle: "#fff", lineWidth: STROKE_WIDTH, lineCap: "round", lineJoin: "round" });
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
  component.count("__sent");
  component.setValue(board.toDataURL("image/png"));
}
board.addEventListener("pointerup", endStroke);
board.addEventListener("pointercancel", endStroke);
document.getElementById("clear").addEventListener("click", () => {
  clearBoard();
  update();
  component.paint(document.getElementById("recon"), null);
  if (mapDiv.data) {
    const n = mapDiv.data.length;
    Plotly.restyle(mapDiv, { x: [[], [], []], y: [[], [], []] }, [n - 3, n - 2, n - 1]);
  }
  component.setValue(null);
});

const OFF = "Live preview off: the in-browser model could not load here, so the page updates when you lift the pen.";

function off() {
  component.hook("__live", "off");
  say(OFF);
}

async function startModel(url) {
  loadingFor = url;
  if (model) model.dispose();
  model = null;
  component.hook("__live", "loading");
  if (!url) return off();
  say("Loading the in-browser model…");
  try {
    const loaded = await component.loadModel(url, ["encoder", "decoder"]);
    if (loadingFor !== url) return loaded.dispose();
    model = loaded;
    component.hook("__live", "on");
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
    if (!window.Plotly) await component.loadScript("plotly.min.js");
    await drawMap(JSON.parse(json));
    fitHeight();
    if (model) update();
  } catch (error) {
    console.warn("draw pad map:", error);
  }
}

clearBoard();
component.paint(document.getElementById("recon"), null);
component.onRender((newArgs, theme) => {
  args = newArgs;
  if (theme) document.body.style.color = theme.textColor;
  fitHeight();
  if (args.model_url !== loadingFor) startModel(args.model_url);
  if (args.map !== mapFor) startMap(args.map);
  if (model) update(); // the dataset or the inversion setting may have changed
}, HOOKS);
