// The interpolation scrubber: a position 0..1 along the path between two codes, linear or spherical (as
// vae.latent.interpolate), decoded in the browser at every input event and animation frame by each model shown.
// Without the runtime it snaps to the path's steps and shows the frames the server decoded for the strips.
"use strict";

const SWEEP_MS = 2500; // one way along the path when playing
const slider = document.getElementById("position");
const playButton = document.getElementById("play");
const label = document.getElementById("t");
const note = document.getElementById("note");
let spec = null; // {steps, models: [{label, url, z0, z1, frames: {linear, spherical}}]}
let specText = null;
let canvases = [];
let decoders = null; // one per model, or null: the server's frames
let t = 0;
let playing = null; // {last: timestamp, direction: 1 | -1}
let shownStep = null;

const method = () => document.querySelector("input[name=method]:checked").value;

// The code at position t (0..1) on the path from z0 to z1: vae.latent.interpolate at a continuous t.
function codeAt(z0, z1, t, how) {
  const mix = (a, b, s) => a.map((v, i) => (1 - s) * v + s * b[i]);
  if (how === "linear") return mix(z0, z1, t);
  const norm = (v) => Math.hypot(...v);
  const n0 = norm(z0),
    n1 = norm(z1);
  if (n0 < 1e-12 || n1 < 1e-12) return mix(z0, z1, t);
  const u0 = z0.map((v) => v / n0),
    u1 = z1.map((v) => v / n1);
  const omega = Math.acos(
    Math.min(
      Math.max(
        u0.reduce((s, v, i) => s + v * u1[i], 0),
        -1,
      ),
      1,
    ),
  );
  let direction;
  if (omega < 1e-6) {
    direction = u0;
  } else if (Math.PI - omega < 1e-6) {
    const e = u0.map(() => 0);
    e[u0.reduce((k, v, i) => (Math.abs(v) < Math.abs(u0[k]) ? i : k), 0)] = 1;
    const dot = e.reduce((s, v, i) => s + v * u0[i], 0);
    const w = e.map((v, i) => v - dot * u0[i]),
      nw = norm(w);
    direction = u0.map((v, i) => Math.cos(Math.PI * t) * v + (Math.sin(Math.PI * t) * w[i]) / nw);
  } else {
    const s = Math.sin(omega);
    direction = u0.map((v, i) => (Math.sin((1 - t) * omega) * v + Math.sin(t * omega) * u1[i]) / s);
  }
  const length = (1 - t) * n0 + t * n1;
  return direction.map((v) => v * length);
}

function show() {
  label.textContent = `t = ${t.toFixed(2)}`;
  slider.value = decoders ? Math.round(t * 1000) : Math.round(t * (spec.steps - 1));
  if (decoders) {
    const how = method();
    const codes = spec.models.map((m, i) => {
      const code = Float32Array.from(codeAt(m.z0, m.z1, t, how));
      live.paint(canvases[i], decoders[i].decode(code, 1));
      return Array.from(code);
    });
    component.hook("__codes", codes);
  } else {
    const step = Math.round(t * (spec.steps - 1));
    const key = `${method()}:${step}`;
    if (key === shownStep) return;
    shownStep = key;
    spec.models.forEach((m, i) => {
      live.paintUrl(canvases[i], m.frames[method()][step]);
    });
  }
}

function tick(now) {
  if (!playing) return;
  const dt = now - playing.last;
  playing.last = now;
  t += (playing.direction * dt) / SWEEP_MS;
  if (t >= 1 || t <= 0) {
    t = Math.min(Math.max(t, 0), 1);
    playing.direction = -playing.direction;
  }
  show();
  requestAnimationFrame(tick);
}

function setPlaying(on) {
  playing = on ? { last: performance.now(), direction: playing?.direction || (t >= 1 ? -1 : 1) } : null;
  playButton.textContent = on ? "Pause" : "Play";
  if (on) requestAnimationFrame(tick);
}

// found: the models' decoders, or null (the server's frames): "loading" while the runtime loads, else for good.
function useDecoders(found, loading = false) {
  decoders = found;
  component.hook("__mode", decoders ? "live" : loading ? "loading" : "server");
  slider.max = decoders ? 1000 : spec.steps - 1;
  note.textContent =
    decoders || loading
      ? ""
      : "The browser decoder could not load: the scrubber shows the steps decoded on the server.";
  shownStep = null;
  show();
}

async function render(args) {
  component.setHeight(args.height);
  if (args.spec === specText) return;
  specText = args.spec;
  spec = JSON.parse(args.spec);
  const frames = document.getElementById("frames");
  frames.replaceChildren();
  canvases = spec.models.map((m) => {
    const figure = document.createElement("figure");
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = 140;
    const caption = document.createElement("figcaption");
    caption.textContent = m.label;
    figure.append(canvas, caption);
    frames.append(figure);
    return canvas;
  });
  useDecoders(null, true); // the server's frames at once; the runtime loads after them
  useDecoders(await live.loadDecoders(spec.models.map((m) => m.url)));
}

slider.addEventListener("input", () => {
  setPlaying(false);
  t = Number(slider.value) / Number(slider.max);
  show();
});
playButton.addEventListener("click", () => setPlaying(!playing));
for (const r of document.querySelectorAll("input[name=method]")) r.addEventListener("change", () => show());
live.onRender(render, { __mode: "loading" });
