// The page: loads the generator (ONNX) into onnxruntime-web, reads the chosen photo, stylises it
// with imageops.mjs (stylize.py's full-frame steps) and shows photo | anime.
// State for tests and bench/web.py is kept on window.animegan.

import { fromRGBA, stylizeFull, toRGBA, workSize } from './imageops.mjs';

const MODEL_URL = 'generator.onnx';
// Photos with more pixels are read shrunk to this many (50 MP: 200 MB of RGBA, within every
// browser's canvas limit).
const MAX_PHOTO_PIXELS = 50e6;
// Peak memory of one run, per pixel of the padded input: ~20 float32 feature maps of 32-64
// channels alive at once in the v2 generator at full resolution, rounded up.
const BYTES_PER_WORK_PIXEL = 4096;

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// The sizes offered (largest first; a run that does not fit falls back along them):
// ?sizes=384,256 offers others (multiples of 4).
const SIZES = (params.get('sizes') || '768,512,256').split(',').map(Number)
  .filter((size) => size >= 4 && size % 4 === 0).sort((a, b) => b - a);
const state = {
  phase: 'loading', backend: null, threads: 1, modelBytes: 0, error: null, notice: null,
  lastResult: null, lastTiming: null, session: null, ort: null,
};
window.animegan = state;

function setStatus(phase, text) {
  state.phase = phase;
  $('status').dataset.state = phase;
  $('status').textContent = text;
}

function showError(text) {
  state.error = text;
  $('error').textContent = text;
  $('error').hidden = false;
  setStatus('error', 'Could not stylise that photo.');
  $('progress').value = 0;
}

function clearError() {
  state.error = null;
  $('error').hidden = true;
  $('error').textContent = '';
}

/** Memory one run may use: ?memory_budget_mb=N, else a quarter of navigator.deviceMemory (GiB,
 * Chromium only, capped there at 8), else 1 GiB; never more than the 4 GiB of 32-bit WASM. */
function memoryBudget() {
  if (params.has('memory_budget_mb')) return Number(params.get('memory_budget_mb')) * 2 ** 20;
  const device = navigator.deviceMemory ? navigator.deviceMemory * 2 ** 30 / 4 : 2 ** 30;
  return Math.min(device, 4 * 2 ** 30);
}

async function fetchWithProgress(url, onProgress) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  const total = Number(response.headers.get('Content-Length')) || 0;
  const reader = response.body.getReader();
  const chunks = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    received += value.length;
    if (total) onProgress(received / total);
  }
  const bytes = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) { bytes.set(chunk, offset); offset += chunk.length; }
  return bytes;
}

async function webgpuAdapter() {
  if (params.get('backend') === 'wasm' || !navigator.gpu) return false;
  try { return Boolean(await navigator.gpu.requestAdapter()); } catch { return false; }
}

async function loadModel() {
  const useWebGPU = await webgpuAdapter();
  // Only the runtime that will be used is downloaded (the WebGPU build is twice the size).
  const ort = await import(useWebGPU ? './ort/ort.webgpu.min.mjs' : './ort/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = new URL('ort/', location.href).href;
  // Threads need SharedArrayBuffer, which needs cross-origin isolation (COOP/COEP headers).
  state.threads = crossOriginIsolated ? Math.min(navigator.hardwareConcurrency || 1, 8) : 1;
  ort.env.wasm.numThreads = state.threads;
  setStatus('loading', 'Downloading the model…');
  const model = await fetchWithProgress(MODEL_URL, (fraction) => { $('progress').value = fraction; });
  state.modelBytes = model.length;
  setStatus('loading', 'Starting the model…');
  let session = null;
  if (useWebGPU) {
    try {
      session = await ort.InferenceSession.create(model, { executionProviders: ['webgpu'] });
      state.backend = 'webgpu';
    } catch (error) {
      console.warn('WebGPU failed, using WebAssembly:', error);
    }
  }
  if (!session) {
    session = await ort.InferenceSession.create(model, { executionProviders: ['wasm'] });
    state.backend = 'wasm';
  }
  state.ort = ort;
  state.session = session;
  $('backend').textContent = `Runtime: onnxruntime-web, ${state.backend === 'webgpu' ? 'WebGPU'
    : `WebAssembly, ${state.threads} thread${state.threads > 1 ? 's' : ''}`}; model ${(model.length
    / 2 ** 20).toFixed(1)} MiB.`;
  setStatus('ready', 'Ready: choose or drop a photo.');
  $('progress').value = 1;
}

/** Runs the generator on {tensor, width, height} (NHWC float32 in [-1, 1]). */
async function runModel(input) {
  const { ort, session } = state;
  const feed = new ort.Tensor('float32', input.tensor, [1, input.height, input.width, 3]);
  const outputs = await session.run({ [session.inputNames[0]]: feed });
  const output = outputs[session.outputNames[0]];
  const data = output.getData ? await output.getData(true) : output.data;
  feed.dispose?.();
  return data;
}

/** The file as RGB pixels, EXIF orientation applied, alpha over white, colour values as stored
 * (no colour-profile conversion: OpenCV applies none either). */
async function readPhoto(file) {
  if (file.size === 0) throw new Error(`“${file.name}” is empty (0 bytes).`);
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, {
      imageOrientation: 'from-image', colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  } catch (error) {
    throw new Error(`“${file.name}” is not an image this browser can read (${file.type
      || 'unknown type'}, ${file.size} bytes): the file may be damaged or in another format.`);
  }
  let notice = null;
  const pixels = bitmap.width * bitmap.height;
  if (pixels > MAX_PHOTO_PIXELS) {
    const scale = Math.sqrt(MAX_PHOTO_PIXELS / pixels);
    const width = Math.floor(bitmap.width * scale);
    const height = Math.floor(bitmap.height * scale);
    notice = `The photo has ${(pixels / 1e6).toFixed(0)} megapixels, more than this page reads `
      + `(${MAX_PHOTO_PIXELS / 1e6}); it was read at ${width}×${height} instead.`;
    const full = bitmap;
    bitmap = await createImageBitmap(full, { resizeWidth: width, resizeHeight: height,
      resizeQuality: 'high' });
    full.close();
  }
  const canvas = $('photo');
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  context.fillStyle = '#ffffff';
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
  return { image: fromRGBA(rgba, canvas.width, canvas.height), notice };
}

/** The offered sizes not above `chosen` whose run fits the memory budget, largest first (the
 * smallest offered when none does). */
function sizesToTry(image, chosen) {
  const budget = memoryBudget();
  const sizes = SIZES.filter((size) => size <= chosen);
  const fitting = sizes.filter((size) => {
    const work = workSize(image.width, image.height, size);
    return (work.width + 3) * (work.height + 3) * BYTES_PER_WORK_PIXEL <= budget;
  });
  return fitting.length ? fitting : sizes.slice(-1);
}

async function stylise(file) {
  clearError();
  $('download').hidden = true;
  if (!state.session) {
    showError('The model is not loaded yet: wait for “Ready” and choose the photo again.');
    return;
  }
  const started = performance.now();
  setStatus('running', `Reading “${file.name}”…`);
  $('progress').removeAttribute('value');
  let photo;
  try {
    photo = await readPhoto(file);
  } catch (error) {
    showError(error.message);
    return;
  }
  const decoded = performance.now();
  const chosen = Number($('size').value);
  const sizes = sizesToTry(photo.image, chosen);
  const notices = photo.notice ? [photo.notice] : [];
  if (sizes[0] < chosen) {
    notices.push(`At ${chosen} px this photo needs more memory than this device can give the page `
      + `(about ${(memoryBudget() / 2 ** 20).toFixed(0)} MiB); it was stylised at ${sizes[0]} px `
      + 'instead.');
  }
  let result = null;
  let modelMs = 0;
  const failures = [];
  for (const size of sizes) {
    setStatus('running', `Stylising at ${size} px…`);
    await new Promise((resolve) => setTimeout(resolve, 0)); // let the status paint
    try {
      result = await stylizeFull(photo.image, size, async (input) => {
        const before = performance.now();
        const output = await runModel(input);
        modelMs = performance.now() - before;
        return output;
      });
      if (failures.length) {
        notices.push(`At ${failures[0].size} px the model failed on this device, most likely for `
          + `want of memory (${failures[0].message}); it was stylised at ${size} px instead.`);
      }
      break;
    } catch (error) {
      failures.push({ size, message: String(error.message || error).slice(0, 200) });
    }
  }
  if (!result) {
    showError(`The model failed on “${file.name}” even at ${sizes[sizes.length - 1]} px: `
      + `${failures[failures.length - 1].message}`);
    return;
  }
  const canvas = $('result');
  canvas.width = result.image.width;
  canvas.height = result.image.height;
  canvas.getContext('2d').putImageData(
    new ImageData(toRGBA(result.image), result.image.width, result.image.height), 0, 0);
  const finished = performance.now();
  state.lastResult = result.image;
  state.notice = notices.join(' ') || null;
  state.lastTiming = { totalMs: finished - started, decodeMs: decoded - started, modelMs,
    workWidth: result.workSize.width, workHeight: result.workSize.height };
  canvas.toBlob((blob) => {
    const link = $('download');
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(blob);
    link.download = `${file.name.replace(/\.[^.]*$/, '') || 'photo'}_anime.png`;
    link.hidden = false;
  }, 'image/png');
  $('progress').value = 1;
  setStatus('done', `Done in ${(state.lastTiming.totalMs / 1000).toFixed(2)} s (model `
    + `${(modelMs / 1000).toFixed(2)} s at ${result.workSize.width}×${result.workSize.height}).`
    + (state.notice ? ` ${state.notice}` : ''));
}

/** bench/web.py: the model alone on a random width x height photo, `repeats` times (after one
 * untimed run if `warmUp`); milliseconds of each. */
state.timeModel = async (width, height, repeats, warmUp = true) => {
  const tensor = new Float32Array(width * height * 3);
  for (let i = 0; i < tensor.length; i++) tensor[i] = Math.random() * 2 - 1;
  const input = { tensor, width, height };
  if (warmUp) await runModel(input);
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const before = performance.now();
    await runModel(input);
    times.push(performance.now() - before);
  }
  return times;
};

function offerSizes() {
  const select = $('size');
  if (!params.has('sizes')) return;
  select.replaceChildren(...SIZES.slice().reverse().map((size) => new Option(`${size} px`, size)));
  select.value = String(SIZES.includes(512) ? 512 : SIZES[SIZES.length - 1]);
}

function wire() {
  offerSizes();
  const onFiles = (files) => { if (files && files.length) stylise(files[0]); };
  for (const input of [$('file'), $('camera')]) {
    input.addEventListener('change', (event) => {
      onFiles(event.target.files);
      event.target.value = ''; // choosing the same file again stylises it again
    });
  }
  const drop = $('drop');
  drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    onFiles(event.dataTransfer.files);
  });
}

wire();
loadModel().catch((error) => {
  showError(`The model could not be loaded: ${error.message || error}`);
});
