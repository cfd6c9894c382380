// Shared by the live-decoding components (scrubber.js, compare.js): the Streamlit frame protocol, loading the
// browser runtime after the page has drawn, and painting decoded images. A page that cannot start the runtime (its
// files blocked, no WebAssembly) says so in one line and decodes on the server instead.
"use strict";

window.__frames = 0; // images decoded in the browser and painted (for tests and benchmarks)
window.__serverFrames = 0; // images decoded on the server and painted

const live = (() => {
  let runtime = null;

  function post(type, data) {
    window.parent.postMessage({ isStreamlitMessage: true, type, ...data }, "*");
  }

  function setHeight(height) {
    post("streamlit:setFrameHeight", { height });
  }

  function setValue(value) {
    post("streamlit:setComponentValue", { value, dataType: "json" });
  }

  // The runtime's scripts, one after another, then its WebAssembly backend; once per page.
  function startRuntime() {
    if (!runtime) {
      runtime = loadRuntimeScripts().then(() => window.startRuntime());
    }
    return runtime;
  }

  // The decoders of `urls` (null where the server has no browser model), or null when any cannot load. Each model
  // loads once per page.
  const decoders = new Map();
  async function loadDecoders(urls) {
    if (urls.some((u) => !u)) return null;
    try {
      await startRuntime();
      for (const u of urls) if (!decoders.has(u)) decoders.set(u, window.loadModel(u, { parts: ["decoder"] }));
      return await Promise.all(urls.map((u) => decoders.get(u)));
    } catch (err) {
      console.warn("live decoding unavailable:", err);
      return null;
    }
  }

  // Paints 28 x 28 pixel probabilities (a Float32Array, or a slice of one) onto a canvas, pixelated.
  const tile = document.createElement("canvas");
  tile.width = tile.height = 28;
  const tileContext = tile.getContext("2d");
  const pixels = tileContext.createImageData(28, 28);
  function paint(canvas, probabilities) {
    for (let i = 0; i < 784; i++) {
      const v = Math.round(Math.min(Math.max(probabilities[i], 0), 1) * 255);
      pixels.data[4 * i] = pixels.data[4 * i + 1] = pixels.data[4 * i + 2] = v;
      pixels.data[4 * i + 3] = 255;
    }
    tileContext.putImageData(pixels, 0, 0);
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(tile, 0, 0, canvas.width, canvas.height);
    window.__frames++;
  }

  // Paints an image given by URL (a server-decoded PNG) onto a canvas, pixelated.
  const images = new Map();
  function paintUrl(canvas, url) {
    let img = images.get(url);
    if (!img) {
      img = new Image();
      img.src = url;
      images.set(url, img);
    }
    canvas.dataset.shows = url;
    const draw = () => {
      if (canvas.dataset.shows !== url) return; // a later image was asked for meanwhile
      const ctx = canvas.getContext("2d");
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      canvas.dataset.painted = url;
      window.__serverFrames++;
    };
    if (img.complete && img.naturalWidth) draw();
    else img.addEventListener("load", draw, { once: true });
  }

  // Calls render(args) for every message from Streamlit, one after another.
  function onRender(render) {
    let rendering = Promise.resolve();
    window.addEventListener("message", (e) => {
      if (!e.data || e.data.type !== "streamlit:render") return;
      const { args, theme } = e.data;
      if (theme) document.body.style.color = theme.textColor; // the app's theme, light or dark
      rendering = rendering.then(() => render(args)).catch((err) => console.error("live decoding:", err));
    });
    post("streamlit:componentReady", { apiVersion: 1 });
  }

  return { setHeight, setValue, loadDecoders, paint, paintUrl, onRender };
})();
