// Shared by the live-decoding components (scrubber.js, compare.js), on top of component.js: the decoders of several
// models, and painting decoded images, counted. A page that cannot start the runtime (its files blocked, no
// WebAssembly) says so in one line and decodes on the server instead.
"use strict";

const live = (() => {
  // The decoders of `urls` (null where the server has no browser model), or null when any cannot load. Each model
  // loads once per page.
  const decoders = new Map();
  async function loadDecoders(urls) {
    if (urls.some((u) => !u)) return null;
    try {
      for (const u of urls) if (!decoders.has(u)) decoders.set(u, component.loadModel(u, ["decoder"]));
      return await Promise.all(urls.map((u) => decoders.get(u)));
    } catch (err) {
      console.warn("live decoding unavailable:", err);
      return null;
    }
  }

  // Paints 28 x 28 pixel probabilities (a Float32Array, or a slice of one) onto a canvas, pixelated.
  function paint(canvas, probabilities) {
    component.paint(canvas, probabilities);
    component.count("__frames"); // images decoded in the browser and painted
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
      component.count("__serverFrames"); // images decoded on the server and painted
    };
    if (img.complete && img.naturalWidth) draw();
    else img.addEventListener("load", draw, { once: true });
  }

  // Calls render(args) for every message from Streamlit, one after another, in the app's theme (light or dark).
  // hooks: the page's own test hooks and their first values.
  function onRender(render, hooks = {}) {
    component.onRender(
      (args, theme) => {
        if (theme) document.body.style.color = theme.textColor;
        return render(args);
      },
      { __frames: 0, __serverFrames: 0, ...hooks },
    );
  }

  return { loadDecoders, paint, paintUrl, onRender };
})();
