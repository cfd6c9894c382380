// The β slider of /elbo: the β sweep's models swapped in place. Each model's latent map, manifold grid and prior
// samples are drawn once into canvases of their own (decoded in the browser; without the runtime, the server's
// PNGs), so moving the slider only copies three canvases. A release reports the index to Streamlit.
"use strict";

const slider = document.getElementById("beta");
const label = document.getElementById("label");
const ticks = document.getElementById("ticks");
const legend = document.getElementById("legend");
const note = document.getElementById("note");
const views = ["map", "grid", "samples"].map((id) => document.getElementById(id));
const SAMPLE_COLUMNS = 6;
let specUrl = null;
let spec = null; // pages.beta_sweep.spec(): {labels, classes, colors, samples, grid, models: [{label, name, ...}]}
let frames = []; // per model: three canvases like `views`, drawn once

function blank(view) {
  const canvas = document.createElement("canvas");
  canvas.width = view.width;
  canvas.height = view.height;
  return canvas;
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
}

// The model's test codes coloured by class, on square axes around them that always hold the prior's 2σ circle.
function drawMap(canvas, model) {
  const ctx = canvas.getContext("2d");
  const { width: w, height: h } = canvas;
  const p = model.points;
  const axis = (k) => Float32Array.from({ length: p.length / 2 }, (_, i) => p[2 * i + k]).sort();
  const [xs, ys] = [axis(0), axis(1)];
  const [x0, x1, y0, y1] = [quantile(xs, 0.01), quantile(xs, 0.99), quantile(ys, 0.01), quantile(ys, 0.99)];
  const half = Math.max(2.6, (1.15 * Math.max(x1 - x0, y1 - y0)) / 2);
  const [cx, cy] = model.variational ? [0, 0] : [(x0 + x1) / 2, (y0 + y1) / 2];
  const px = (x) => ((x - cx + half) / (2 * half)) * w;
  const py = (y) => h - ((y - cy + half) / (2 * half)) * h;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, w, h);
  ctx.strokeStyle = "#e6e6e6";
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(px(0), 0);
  ctx.lineTo(px(0), h);
  ctx.moveTo(0, py(0));
  ctx.lineTo(w, py(0));
  ctx.stroke();
  ctx.globalAlpha = 0.6;
  for (let i = 0; i < p.length / 2; i++) {
    ctx.fillStyle = spec.colors[spec.labels[i] % spec.colors.length];
    ctx.fillRect(px(p[2 * i]) - 2.5, py(p[2 * i + 1]) - 2.5, 5, 5);
  }
  ctx.globalAlpha = 1;
  ctx.strokeStyle = "#333";
  ctx.setLineDash([8, 6]);
  for (const r of [1, 2]) {
    ctx.beginPath();
    ctx.arc(px(0), py(0), (r / (2 * half)) * w, 0, 2 * Math.PI);
    ctx.stroke();
  }
  ctx.setLineDash([]);
  ctx.fillStyle = "#555";
  ctx.font = "22px sans-serif";
  ctx.fillText(`axes: ±${half.toFixed(1)} around (${cx.toFixed(1)}, ${cy.toFixed(1)})`, 12, h - 14);
}

// n decoded images (n * 784 values in 0..1) as a mosaic of `columns`, `gap` white pixels between tiles, scaled to
// the canvas.
function drawMosaic(canvas, values, n, columns, gap) {
  const rows = Math.ceil(n / columns);
  const small = document.createElement("canvas");
  small.width = columns * 28 + (columns - 1) * gap;
  small.height = rows * 28 + (rows - 1) * gap;
  const sctx = small.getContext("2d");
  const image = sctx.createImageData(small.width, small.height);
  image.data.fill(255);
  for (let k = 0; k < n; k++) {
    const left = (k % columns) * (28 + gap);
    const top = Math.floor(k / columns) * (28 + gap);
    for (let i = 0; i < 784; i++) {
      const v = Math.round(Math.min(Math.max(values[k * 784 + i], 0), 1) * 255);
      const at = 4 * ((top + Math.floor(i / 28)) * small.width + left + (i % 28));
      image.data[at] = image.data[at + 1] = image.data[at + 2] = v;
    }
  }
  sctx.putImageData(image, 0, 0);
  drawScaled(canvas, small);
}

function drawScaled(canvas, source) {
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(source, 0, 0, canvas.width, canvas.height);
}

// Swap the shown model: three canvas copies and the label.
function show(i) {
  const start = performance.now();
  views.forEach((view, k) => {
    drawScaled(view, frames[i][k]);
  });
  label.textContent = spec.models[i].label;
  component.hook("__betaSwapMs", performance.now() - start);
  component.hook("__betaIndex", i);
  component.count("__betaSwaps");
}

function setMode(mode, text) {
  note.textContent = text;
  component.hook("__betaMode", mode);
}

async function decodeInBrowser() {
  const decoders = await Promise.all(spec.models.map((m) => component.loadModel(m.url, ["decoder"])));
  const draws = Float32Array.from(spec.samples);
  spec.models.forEach((m, i) => {
    drawMosaic(
      frames[i][1],
      decoders[i].decode(Float32Array.from(m.codes), spec.grid * spec.grid),
      spec.grid ** 2,
      spec.grid,
      0,
    );
    drawMosaic(frames[i][2], decoders[i].decode(draws, draws.length / 2), draws.length / 2, SAMPLE_COLUMNS, 2);
  });
}

function drawServed() {
  const loads = spec.models.flatMap((m, i) =>
    [m.served.grid, m.served.samples].map(
      (src, k) =>
        new Promise((resolve) => {
          const img = new Image();
          img.onload = () => {
            drawScaled(frames[i][k + 1], img);
            resolve();
          };
          img.onerror = resolve;
          img.src = src;
        }),
    ),
  );
  return Promise.all(loads);
}

async function build(args) {
  spec = await (await fetch(args.spec)).json();
  slider.max = String(spec.models.length - 1);
  slider.value = String(args.value);
  ticks.replaceChildren(
    ...spec.models.map((m) => Object.assign(document.createElement("span"), { textContent: m.label })),
  );
  legend.replaceChildren(
    ...spec.classes.map((name, c) => {
      const item = document.createElement("span");
      const dot = document.createElement("i");
      dot.style.background = spec.colors[c % spec.colors.length];
      item.append(dot, name);
      return item;
    }),
  );
  frames = spec.models.map(() => views.map(blank));
  spec.models.forEach((m, i) => {
    drawMap(frames[i][0], m);
  });
  setMode("loading", "Decoding the sweep in your browser…");
  show(Number(slider.value));
  try {
    await decodeInBrowser();
    setMode("live", "");
  } catch (err) {
    console.warn("the sweep is decoded on the server:", err);
    await drawServed();
    setMode("server", "Your browser could not run the models, so these images were decoded on the server.");
  }
  show(Number(slider.value));
}

slider.addEventListener("input", () => spec && show(Number(slider.value)));
// The server hears a release: a key's keyup (a held key's repeats send nothing) or the end of a drag; once per index.
let keyHeld = false;
let reported = null;
function report() {
  const index = Number(slider.value);
  if (spec && index !== reported) {
    reported = index;
    component.setValue(index);
  }
}
slider.addEventListener("keydown", () => {
  keyHeld = true;
});
slider.addEventListener("keyup", () => {
  keyHeld = false;
  report();
});
slider.addEventListener("change", () => {
  if (!keyHeld) report();
});
// The sum of the shown grid's grey levels: a test tells the models' grids apart by it.
function gridDigest() {
  const data = views[1].getContext("2d").getImageData(0, 0, views[1].width, views[1].height).data;
  let sum = 0;
  for (let i = 0; i < data.length; i += 4) sum += data[i];
  return sum;
}

component.onRender(
  async (args) => {
    if (args.spec === specUrl) return; // a rerun with the same sweep: nothing changes here
    specUrl = args.spec;
    reported = args.value;
    await build(args);
    component.setHeight(document.body.scrollHeight + 4);
  },
  { __betaSwaps: 0, __betaIndex: null, __betaMode: "loading", __betaSwapMs: null, __betaDigest: gridDigest },
);
