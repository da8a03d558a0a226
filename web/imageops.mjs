// The pixel steps of stylize.py's full-frame mode (animegan_face/deployment/stylize.py,
// stylize_full; animegan_face/data/image_files.py, from_uint8 / to_uint8), for the page.
//
// Images are {width, height, data}: data a Uint8Array of width * height * 3 RGB samples, row by
// row. The resizes follow OpenCV's cv2.resize for uint8 images (tests/test_web.py compares them
// with cv2 on the same inputs):
//   INTER_AREA (shrinking): each output pixel is the mean of the source pixels its cell covers,
//     border pixels weighted by the part covered (OpenCV's computeResizeAreaTab).
//   INTER_CUBIC (enlarging): Keys' cubic with a = -0.75, pixel centres at +0.5, edge pixels
//     repeated, float weights (what OpenCV 5 computes for 2-D uint8 images; measured).
//   INTER_LINEAR: what OpenCV's INTER_AREA does when one side grows (only for photos under 4 px).

/** Python's round(): halves to even (2.5 -> 2). */
export function roundHalfEven(value) {
  const floor = Math.floor(value);
  const fraction = value - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** The size stylize_full works at: the photo shrunk so its longest side is `maxSide`, when larger
 * (each side max(4, round(side * scale)), Python's round), else the photo's own size. */
export function workSize(width, height, maxSide) {
  if (!maxSide || Math.max(width, height) <= maxSide) return { width, height };
  const scale = maxSide / Math.max(width, height);
  return {
    width: Math.max(4, roundHalfEven(width * scale)),
    height: Math.max(4, roundHalfEven(height * scale)),
  };
}

// Weight tables: for each output index, a list of [source index, weight].

function areaTable(sourceSize, size) {
  const scale = sourceSize / size;
  const table = [];
  for (let d = 0; d < size; d++) {
    const entries = [];
    const start = d * scale;
    const end = start + scale;
    const cell = Math.min(scale, sourceSize - start);
    let first = Math.ceil(start);
    let last = Math.floor(end);
    last = Math.min(last, sourceSize - 1);
    first = Math.min(first, last);
    if (first - start > 1e-3) entries.push([first - 1, Math.fround((first - start) / cell)]);
    for (let s = first; s < last; s++) entries.push([s, Math.fround(1 / cell)]);
    if (end - last > 1e-3) {
      entries.push([last, Math.fround(Math.min(Math.min(end - last, 1), cell) / cell)]);
    }
    table.push(entries);
  }
  return table;
}

function cubicCoefficients(x) {
  // OpenCV's interpolateCubic, in float32 as there.
  const f = Math.fround;
  const A = -0.75;
  x = f(x);
  const c0 = f(f(f(f(f(A * f(x + 1)) - 5 * A) * f(x + 1)) + 8 * A) * f(x + 1) - 4 * A);
  const c1 = f(f(f(f((A + 2) * x) - (A + 3)) * x) * x + 1);
  const c2 = f(f(f(f((A + 2) * f(1 - x)) - (A + 3)) * f(1 - x)) * f(1 - x) + 1);
  const c3 = f(f(f(1 - c0) - c1) - c2);
  return [c0, c1, c2, c3];
}

const COEF_SCALE = 2048; // OpenCV's INTER_RESIZE_COEF_SCALE (11 bits), for INTER_LINEAR

function cubicTable(sourceSize, size) {
  const scale = 1 / (size / sourceSize);
  const table = [];
  for (let d = 0; d < size; d++) {
    const position = Math.fround((d + 0.5) * scale - 0.5);
    const base = Math.floor(position);
    const coefficients = cubicCoefficients(position - base);
    table.push(coefficients.map((c, k) => [
      Math.min(Math.max(base - 1 + k, 0), sourceSize - 1),
      c,
    ]));
  }
  return table;
}

function areaLinearTable(sourceSize, size) {
  // OpenCV's INTER_AREA when a side grows: linear weights placed by the cell edges, in 11-bit
  // fixed point like its INTER_LINEAR.
  const inverseScale = size / sourceSize;
  const scale = 1 / inverseScale;
  const table = [];
  for (let d = 0; d < size; d++) {
    let base = Math.floor(d * scale);
    let fraction = Math.fround((d + 1) - (base + 1) * inverseScale);
    fraction = fraction <= 0 ? 0 : fraction - Math.floor(fraction);
    if (base < 0) { base = 0; fraction = 0; }
    if (base >= sourceSize - 1) { base = sourceSize - 1; fraction = 0; }
    const next = Math.min(base + 1, sourceSize - 1);
    table.push([[base, roundHalfEven((1 - fraction) * COEF_SCALE)],
      [next, roundHalfEven(fraction * COEF_SCALE)]]);
  }
  return table;
}

function weightedSum(entries, value) {
  let sum = 0;
  for (const [index, weight] of entries) sum += weight * value(index);
  return sum;
}

/** Separable resampling of an RGB image with per-axis tables; `finish` maps the 2-D weighted sum
 * to a sample. */
function resample(image, width, height, xTable, yTable, finish, verticalSum = weightedSum) {
  const source = image.data;
  const sourceWidth = image.width;
  const rows = new Float64Array(image.height * width * 3); // horizontal pass
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0, g = 0, b = 0;
      for (const [sx, weight] of xTable[x]) {
        const i = (y * sourceWidth + sx) * 3;
        r += weight * source[i]; g += weight * source[i + 1]; b += weight * source[i + 2];
      }
      const o = (y * width + x) * 3;
      rows[o] = r; rows[o + 1] = g; rows[o + 2] = b;
    }
  }
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const sum = verticalSum(yTable[y], (sy) => rows[(sy * width + x) * 3 + c]);
        data[o + c] = Math.min(255, Math.max(0, finish(sum)));
      }
    }
  }
  return { width, height, data };
}

/** cv2.resize(image, (width, height), interpolation=INTER_AREA) for uint8 RGB. */
export function resizeArea(image, width, height) {
  if (width > image.width || height > image.height) {
    // OpenCV turns INTER_AREA into INTER_LINEAR unless both sides shrink.
    const shift = COEF_SCALE * COEF_SCALE;
    return resample(image, width, height, areaLinearTable(image.width, width),
      areaLinearTable(image.height, height), (sum) => Math.floor((sum + shift / 2) / shift));
  }
  const scaleX = image.width / width;
  const scaleY = image.height / height;
  if (Number.isInteger(scaleX) && Number.isInteger(scaleY)) {
    // OpenCV's resizeAreaFast: block means, halves rounded up (its SIMD rounding shift).
    return resample(image, width, height, areaTable(image.width, width),
      areaTable(image.height, height), (sum) => Math.floor(sum + 0.5));
  }
  return resample(image, width, height, areaTable(image.width, width),
    areaTable(image.height, height), roundHalfEven);
}

/** cv2.resize(image, (width, height), interpolation=INTER_CUBIC) for uint8 RGB images of two
 * rows or more: float weights, the sum rounded to the nearest integer. */
export function resizeCubic(image, width, height) {
  return resample(image, width, height, cubicTable(image.width, width),
    cubicTable(image.height, height), roundHalfEven);
}

/** numpy.pad(..., mode="reflect") index for position i of an axis of n samples (any i). */
function reflectIndex(i, n) {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  let m = ((i % period) + period) % period;
  return m < n ? m : period - m;
}

/** The model's input: the work-size image padded by reflection at the bottom and right to
 * multiples of 4, as float32 NHWC in [-1, 1] (x / 127.5 - 1 in float32, as from_uint8). */
export function toModelInput(image) {
  const paddedWidth = image.width + ((4 - (image.width % 4)) % 4);
  const paddedHeight = image.height + ((4 - (image.height % 4)) % 4);
  const tensor = new Float32Array(paddedWidth * paddedHeight * 3);
  for (let y = 0; y < paddedHeight; y++) {
    const sy = reflectIndex(y, image.height);
    for (let x = 0; x < paddedWidth; x++) {
      const sx = reflectIndex(x, image.width);
      const i = (sy * image.width + sx) * 3;
      const o = (y * paddedWidth + x) * 3;
      for (let c = 0; c < 3; c++) tensor[o + c] = Math.fround(image.data[i + c] / 127.5) - 1;
    }
  }
  return { tensor, width: paddedWidth, height: paddedHeight };
}

/** The model's float32 NHWC output (width x height after padding) -> the uint8 RGB image of
 * its top-left `cropWidth` x `cropHeight` (to_uint8: round((x + 1) * 127.5), halves to even,
 * clipped to 0..255). */
export function fromModelOutput(values, width, cropWidth, cropHeight) {
  const data = new Uint8Array(cropWidth * cropHeight * 3);
  for (let y = 0; y < cropHeight; y++) {
    for (let x = 0; x < cropWidth; x++) {
      const i = (y * width + x) * 3;
      const o = (y * cropWidth + x) * 3;
      for (let c = 0; c < 3; c++) {
        const v = Math.fround(Math.fround(values[i + c] + 1) * 127.5);
        data[o + c] = Math.min(255, Math.max(0, roundHalfEven(v)));
      }
    }
  }
  return { width: cropWidth, height: cropHeight, data };
}

/** RGBA canvas pixels (alpha already composited over white by drawing on a white canvas) -> RGB. */
export function fromRGBA(rgba, width, height) {
  const data = new Uint8Array(width * height * 3);
  for (let p = 0, q = 0; p < width * height * 4; p += 4, q += 3) {
    data[q] = rgba[p]; data[q + 1] = rgba[p + 1]; data[q + 2] = rgba[p + 2];
  }
  return { width, height, data };
}

/** RGB -> RGBA (opaque) for a canvas. */
export function toRGBA(image) {
  const rgba = new Uint8ClampedArray(image.width * image.height * 4);
  for (let p = 0, q = 0; q < image.data.length; p += 4, q += 3) {
    rgba[p] = image.data[q]; rgba[p + 1] = image.data[q + 1]; rgba[p + 2] = image.data[q + 2];
    rgba[p + 3] = 255;
  }
  return rgba;
}

/** stylize_full around `run` (an async function from {tensor, width, height} to the float32
 * output of the same shape): shrink to `maxSide`, pad, run, crop, and back to the photo's size. */
export async function stylizeFull(image, maxSide, run) {
  const size = workSize(image.width, image.height, maxSide);
  const work = (size.width === image.width && size.height === image.height)
    ? image : resizeArea(image, size.width, size.height);
  const input = toModelInput(work);
  const output = await run(input);
  const stylised = fromModelOutput(output, input.width, work.width, work.height);
  if (work === image) return { image: stylised, workSize: size };
  return { image: resizeCubic(stylised, image.width, image.height), workSize: size };
}
