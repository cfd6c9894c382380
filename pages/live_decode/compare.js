// Two models' latent maps side by side. The point under the pointer, on either map, is decoded by both models in the
// browser and painted side by side, with a crosshair at that point on both maps: a hole in one model's space shows
// at once. A map point becomes each model's code through its own projection: the point itself for z = 2, the
// atlas' PCA plane (mean + x c1 + y c2) above. Without the runtime a click asks the server to decode the point.
"use strict";

let spec = null; // {models: [{label, figure (Plotly JSON), url, projection: vae.latent.MapProjection.spec()}]}
let specText = null;
let plots = []; // per model: {gd, cross, canvas}
let decoders = null;
let point = null; // [x, y] in map coordinates
let pending = false;
let servedText = null;
let mode = "loading"; // "loading", "live" (the browser decodes) or "server"

const at = document.getElementById("at");
const note = document.getElementById("note");

// Whether the browser can turn a map point into this projection's code: not UMAP, whose points are not sent here.
const invertible = (projection) => projection.kind !== "umap";

function setMode(value) {
  mode = value;
  component.hook("__mode", mode);
}

function drawCross({ gd, cross }) {
  const full = gd._fullLayout;
  if (!point || !full) return;
  const { l, t, w, h } = full._size;
  const px = full.xaxis.d2p(point[0]),
    py = full.yaxis.d2p(point[1]);
  const visible = px >= 0 && px <= w && py >= 0 && py <= h;
  Object.assign(cross.style, {
    display: visible ? "block" : "none",
    left: `${l}px`,
    top: `${t}px`,
    width: `${w}px`,
    height: `${h}px`,
  });
  Object.assign(cross.querySelector(".v").style, { left: `${px}px`, top: 0, height: `${h}px` });
  Object.assign(cross.querySelector(".h").style, { top: `${py}px`, left: 0, width: `${w}px` });
  Object.assign(cross.querySelector(".ring").style, { left: `${px}px`, top: `${py}px` });
}

function decodeNow() {
  pending = false;
  plots.forEach(drawCross);
  at.textContent = `(${point[0].toFixed(2)}, ${point[1].toFixed(2)})`;
  component.hook("__point", point);
  const codes = spec.models.map((m, i) => {
    const code = Float32Array.from(component.toLatent(m.projection, point));
    live.paint(plots[i].canvas, decoders[i].decode(code, 1));
    return Array.from(code);
  });
  component.hook("__codes", codes);
}

// Pointer events on the whole frame, captured before Plotly's drag layer sees them.
function listen() {
  const hit = (e) => {
    for (const { gd } of plots) {
      const p = component.pointAt(gd, e);
      if (p) return p;
    }
    return null;
  };
  document.addEventListener(
    "pointermove",
    (e) => {
      const p = decoders && hit(e); // without them the crosshair stays on the point the server decoded
      if (!p) return;
      point = p;
      if (!pending) {
        pending = true;
        requestAnimationFrame(decodeNow);
      }
    },
    true,
  );
  // A click in place asks the server to decode the point, where the browser cannot.
  component.onClickInPlace(
    () => true,
    (e) => {
      const p = hit(e);
      if (!p || mode !== "server") return;
      component.setValue({ event: Date.now(), x: p[0], y: p[1] });
      point = p;
      plots.forEach(drawCross); // at once, before the server answers
    },
  );
}

function showServed(args) {
  if (decoders || !args.served || args.served === servedText) return;
  servedText = args.served;
  const served = JSON.parse(args.served);
  point = [served.x, served.y];
  component.hook("__point", point);
  plots.forEach(drawCross);
  at.textContent = `(${served.x.toFixed(2)}, ${served.y.toFixed(2)})`;
  served.images.forEach((url, i) => {
    live.paintUrl(plots[i].canvas, url);
  });
}

async function render(args) {
  component.setHeight(args.height);
  if (args.spec !== specText) {
    specText = args.spec;
    spec = JSON.parse(args.spec);
    // map, both decoded images, map: the images stay beside the pointer on either map
    const maps = document.getElementById("maps");
    const decoded = document.createElement("div");
    decoded.className = "decoded";
    decoded.append(at);
    for (const { gd } of plots) Plotly.purge(gd); // frees its WebGL context
    maps.replaceChildren();
    maps.style.gridTemplateColumns = spec.models.length === 2 ? "1fr 128px 1fr" : "1fr 128px";
    plots = [];
    for (const [i, m] of spec.models.entries()) {
      if (i === 1) maps.append(decoded);
      const column = document.createElement("div");
      const title = document.createElement("h4");
      title.textContent = m.label;
      const holder = document.createElement("div");
      holder.className = "map";
      const gd = document.createElement("div");
      const cross = document.createElement("div");
      cross.className = "cross";
      cross.innerHTML = '<div class="v"></div><div class="h"></div><div class="ring"></div>';
      holder.append(gd, cross);
      column.append(title, holder);
      maps.append(column);
      const figure = JSON.parse(m.figure);
      await Plotly.newPlot(gd, figure.data, figure.layout, { displaylogo: false, responsive: true });
      const canvas = document.createElement("canvas");
      canvas.width = canvas.height = 112;
      canvas.className = "decoded-image";
      const caption = document.createElement("figcaption");
      caption.textContent = m.label.split(" · ")[0];
      const fig = document.createElement("figure");
      fig.append(canvas, caption);
      decoded.append(fig);
      plots.push({ gd, cross, canvas });
      if (spec.models.length === 1) maps.append(decoded);
      gd.on("plotly_relayout", () => plots.forEach(drawCross));
    }
    decoders = null;
    setMode("loading");
    servedText = null;
    // the runtime loads after the maps are drawn
    const inverse = spec.models.every((m) => invertible(m.projection));
    decoders = inverse ? await live.loadDecoders(spec.models.map((m) => m.url)) : null;
    setMode(decoders ? "live" : "server");
    note.textContent = decoders
      ? ""
      : inverse
        ? "The browser decoder could not load here: click a point to decode it on the server."
        : "This map has no inverse to run in the browser: click a point to decode it on the server.";
    if (point && decoders) decodeNow();
  }
  showServed(args);
}

listen();
live.onRender(render, { __mode: mode });
