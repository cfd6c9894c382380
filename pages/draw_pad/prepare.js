// vae/images.py's prepare_image for a canvas, in the browser: RGBA pixels -> the 28 x 28 model input.
//
//   prepareDrawing(rgba, width, height, {mnist: true, autoInvert: true})
//     rgba: Uint8ClampedArray (height * width * 4), as getImageData gives it
//     -> Uint8Array (784), light ink on black; null when the drawing is blank (Python raises ImageError there)
//
// The same steps and constants as the Python: alpha composited, grayscale (PIL's integer luma), light background
// inverted, levels stretched, cropped to the ink, scaled with PIL's LANCZOS (reduce first, then the fixed-point
// two-pass filter), placed by centre of mass (MNIST) or centred (anything else). tests/test_browser_draw.py
// compares the result with the Python pipeline's on the same pixels.
"use strict";

(() => {
  const SIZE = 28;
  const INK_LEVEL = 64;
  const MIN_CONTRAST = 24;
  const PRECISION_BITS = 32 - 8 - 2; // PIL's fixed-point resampling of 8-bit images
  const f32 = Math.fround;

  // Python's round(): halves to even.
  function roundHalfEven(x) {
    const r = Math.round(x);
    return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  }

  function median(values) {
    const v = Float64Array.from(values).sort();
    const m = v.length >> 1;
    return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
  }

  // numpy.percentile with linear interpolation
  function percentile(values, q) {
    const v = Float64Array.from(values).sort();
    const at = ((v.length - 1) * q) / 100,
      lo = Math.floor(at),
      hi = Math.min(lo + 1, v.length - 1);
    return v[lo] + (v[hi] - v[lo]) * (at - lo);
  }

  // the border ring's median (images._border: about 3% deep, corners counted twice, as np.concatenate does)
  function backgroundLevel(gray, w, h) {
    const d = Math.max(1, roundHalfEven(0.03 * Math.min(h, w)));
    const ring = [];
    for (let y = 0; y < d; y++) for (let x = 0; x < w; x++) ring.push(gray[y * w + x]);
    for (let y = h - d; y < h; y++) for (let x = 0; x < w; x++) ring.push(gray[y * w + x]);
    for (let y = 0; y < h; y++) for (let x = 0; x < d; x++) ring.push(gray[y * w + x]);
    for (let y = 0; y < h; y++) for (let x = w - d; x < w; x++) ring.push(gray[y * w + x]);
    return median(ring);
  }

  function toGray(rgba, n) {
    let transparent = false;
    for (let i = 0; i < n && !transparent; i++) transparent = rgba[4 * i + 3] < 255;
    let rgb = rgba;
    if (transparent) {
      // composite_alpha: onto black under light ink, white otherwise
      let weight = 0,
        ink = 0;
      for (let i = 0; i < n; i++) {
        const a = rgba[4 * i + 3] / 255;
        weight += a;
        ink += (0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]) * a;
      }
      const backdrop = weight > 0 && ink / weight > 127.5 ? 0 : 255;
      rgb = new Uint8ClampedArray(rgba.length);
      for (let i = 0; i < n; i++) {
        const a = rgba[4 * i + 3] / 255;
        for (let c = 0; c < 3; c++) rgb[4 * i + c] = Math.round(rgba[4 * i + c] * a + backdrop * (1 - a));
      }
    }
    const gray = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      // PIL's convert("L"): L = (R 299 + G 587 + B 114) / 1000 in 16-bit fixed point
      gray[i] = (rgb[4 * i] * 19595 + rgb[4 * i + 1] * 38470 + rgb[4 * i + 2] * 7471 + 0x8000) >> 16;
    }
    return gray;
  }

  // stretch_contrast, in float32 as numpy computes it; null when nothing stands out
  function stretchContrast(gray, w, h) {
    const background = backgroundLevel(gray, w, h);
    let lo = background <= 127.5 ? background : percentile(gray, 1);
    let hi = 0;
    for (const g of gray) hi = Math.max(hi, g);
    if (hi - lo < MIN_CONTRAST) return null;
    lo += 0.1 * (hi - lo);
    const loF = f32(lo),
      scale = f32(255 / (hi - lo));
    const out = new Uint8Array(gray.length);
    for (let i = 0; i < gray.length; i++) {
      const v = f32(f32(gray[i] - loF) * scale);
      out[i] = Math.min(255, Math.max(0, roundHalfEven(v)));
    }
    return out;
  }

  function inkBox(gray, w, h) {
    let top = h,
      bottom = -1,
      left = w,
      right = -1;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (gray[y * w + x] >= INK_LEVEL) {
          top = Math.min(top, y);
          bottom = Math.max(bottom, y);
          left = Math.min(left, x);
          right = Math.max(right, x);
        }
      }
    }
    return bottom < 0 ? null : { top, bottom: bottom + 1, left, right: right + 1 };
  }

  // Image.reduce((fx, fy)): box averages, the last row and column of blocks over the pixels left
  function reduce(src, w, h, fx, fy) {
    const ow = Math.ceil(w / fx),
      oh = Math.ceil(h / fy),
      out = new Uint8Array(ow * oh);
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const y1 = Math.min(h, (oy + 1) * fy),
          x1 = Math.min(w, (ox + 1) * fx);
        let sum = 0,
          count = 0;
        for (let y = oy * fy; y < y1; y++) {
          for (let x = ox * fx; x < x1; x++) {
            sum += src[y * w + x];
            count++;
          }
        }
        out[oy * ow + ox] = Math.floor((sum + count / 2) / count);
      }
    }
    return { pixels: out, w: ow, h: oh };
  }

  function lanczos(x) {
    const sinc = (t) => (t === 0 ? 1 : Math.sin(Math.PI * t) / (Math.PI * t));
    return x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0;
  }

  // PIL's precompute_coeffs + normalize_coeffs_8bpc: for each output pixel, its first input pixel and
  // fixed-point weights
  function coefficients(inSize, in0, in1, outSize) {
    const scale = (in1 - in0) / outSize,
      filterscale = Math.max(scale, 1),
      support = 3 * filterscale;
    const rows = [];
    for (let xx = 0; xx < outSize; xx++) {
      const center = in0 + (xx + 0.5) * scale;
      const xmin = Math.max(0, Math.trunc(center - support + 0.5));
      const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
      const k = [];
      let ww = 0;
      for (let x = 0; x < xmax; x++) {
        const v = lanczos((x + xmin - center + 0.5) / filterscale);
        k.push(v);
        ww += v;
      }
      const fixed = k.map((v) => {
        const p = (ww !== 0 ? v / ww : v) * (1 << PRECISION_BITS);
        return Math.trunc(p < 0 ? p - 0.5 : p + 0.5);
      });
      rows.push({ xmin, k: fixed });
    }
    return rows;
  }

  function clip8(sum) {
    return Math.min(255, Math.max(0, Math.floor(sum / (1 << PRECISION_BITS))));
  }

  // one pass of ImagingResample{Horizontal,Vertical}_8bpc (the intermediate image is 8-bit, as in PIL)
  function pass(src, w, h, coeffs, horizontal) {
    const ow = horizontal ? coeffs.length : w,
      oh = horizontal ? h : coeffs.length;
    const out = new Uint8Array(ow * oh);
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        const { xmin, k } = coeffs[horizontal ? x : y];
        let sum = 1 << (PRECISION_BITS - 1);
        for (let j = 0; j < k.length; j++) {
          sum += (horizontal ? src[y * w + xmin + j] : src[(xmin + j) * w + x]) * k[j];
        }
        out[y * ow + x] = clip8(sum);
      }
    }
    return out;
  }

  // Image.resize((ow, oh), LANCZOS, reducing_gap=3.0) of an 8-bit image
  function resizeLanczos(src, w, h, ow, oh) {
    if (ow === w && oh === h) return src;
    let box = [0, 0, w, h],
      img = { pixels: src, w, h };
    const fx = Math.trunc(w / ow / 3) || 1,
      fy = Math.trunc(h / oh / 3) || 1;
    if (fx > 1 || fy > 1) {
      img = reduce(src, w, h, fx, fy);
      box = [0, 0, w / fx, h / fy];
    }
    let pixels = img.pixels,
      cw = img.w;
    const needH = ow !== img.w || box[0] !== 0 || box[2] !== img.w;
    const needV = oh !== img.h || box[1] !== 0 || box[3] !== img.h;
    if (needH) {
      pixels = pass(pixels, cw, img.h, coefficients(img.w, box[0], box[2], ow), true);
      cw = ow;
    }
    if (needV) pixels = pass(pixels, cw, img.h, coefficients(img.h, box[1], box[3], oh), false);
    return pixels;
  }

  function scaleLongerSide(gray, w, h, side) {
    const scale = side / Math.max(h, w);
    const ow = Math.max(1, roundHalfEven(w * scale)),
      oh = Math.max(1, roundHalfEven(h * scale));
    return { pixels: resizeLanczos(gray, w, h, ow, oh), w: ow, h: oh };
  }

  function place(patch, top, left) {
    const out = new Uint8Array(SIZE * SIZE);
    for (let y = 0; y < patch.h; y++) {
      for (let x = 0; x < patch.w; x++) out[(top + y) * SIZE + left + x] = patch.pixels[y * patch.w + x];
    }
    return out;
  }

  function placeByMass(patch) {
    let total = 0,
      rows = 0,
      cols = 0;
    for (let y = 0; y < patch.h; y++) {
      for (let x = 0; x < patch.w; x++) {
        const v = patch.pixels[y * patch.w + x];
        total += v;
        rows += y * v;
        cols += x * v;
      }
    }
    const cy = total ? rows / total : (patch.h - 1) / 2,
      cx = total ? cols / total : (patch.w - 1) / 2;
    const top = Math.min(Math.max(roundHalfEven(SIZE / 2 - cy), 0), SIZE - patch.h);
    const left = Math.min(Math.max(roundHalfEven(SIZE / 2 - cx), 0), SIZE - patch.w);
    return place(patch, top, left);
  }

  function prepareDrawing(rgba, width, height, { mnist = true, autoInvert = true } = {}) {
    let gray = toGray(rgba, width * height);
    if (autoInvert && backgroundLevel(gray, width, height) > 127.5) gray = gray.map((g) => 255 - g);
    gray = stretchContrast(gray, width, height);
    const box = gray && inkBox(gray, width, height);
    if (!box) return null;
    const cw = box.right - box.left,
      ch = box.bottom - box.top,
      crop = new Uint8Array(cw * ch);
    for (let y = 0; y < ch; y++) {
      const row = (box.top + y) * width;
      crop.set(gray.subarray(row + box.left, row + box.right), y * cw);
    }
    if (mnist) return placeByMass(scaleLongerSide(crop, cw, ch, 20));
    const patch = scaleLongerSide(crop, cw, ch, SIZE);
    return place(patch, (SIZE - patch.h) >> 1, (SIZE - patch.w) >> 1);
  }

  window.prepareDrawing = prepareDrawing;
})();
