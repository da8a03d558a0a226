"""The library side of web.py: the in-browser page (web/) as a static site, and a local server.

The site is plain files that any static host can serve:

    index.html, app.js, imageops.mjs, style.css   the page (web/)
    ort/                                          onnxruntime-web's ES modules and WebAssembly,
                                                  from web/node_modules (`npm ci`, pinned by
                                                  web/package-lock.json)
    generator.onnx                                the generator (export.py's ONNX), loaded by the
                                                  page and run on the visitor's device

Threads in WebAssembly need SharedArrayBuffer, which browsers allow only on cross-origin isolated
pages: the server sends COOP `same-origin` and COEP `require-corp` (a static host must send the
same two headers for the page to use more than one thread; without them it runs on one).
"""

import functools
import hashlib
import http.server
import json
import pathlib
import shutil

WEB_DIR = pathlib.Path(__file__).resolve().parents[2] / "web"
PAGE_FILES = ("index.html", "app.js", "imageops.mjs", "style.css")
# What the page imports: the WASM-only build (always) and the WebGPU build (only where the
# browser offers a WebGPU adapter), each with its Emscripten loader and binary.
RUNTIME_FILES = (
    "ort.wasm.min.mjs", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm",
    "ort.webgpu.min.mjs", "ort-wasm-simd-threaded.asyncify.mjs",
    "ort-wasm-simd-threaded.asyncify.wasm",
)
MODEL_NAME = "generator.onnx"
_SOURCE_NOTE = "generator.onnx.json"  # which weights file the ONNX was exported from


def runtime_dir(web_dir=WEB_DIR):
    return pathlib.Path(web_dir) / "node_modules" / "onnxruntime-web" / "dist"


def build_site(output_dir, model_path, web_dir=WEB_DIR):
    """Writes the site into `output_dir` and returns the path of its generator.onnx; a missing
    model or runtime fails before anything is written.

    `model_path`: a `.onnx` file (copied), or anything `load_keras_generator` reads (a
    `.weights.h5`, a training model_dir), exported to ONNX once and again only when that file
    changes (export.py's checked export: compared with Keras before it is written).

    Raises:
        FileNotFoundError: onnxruntime-web is not installed in web/node_modules, or no model.
    """
    output_dir, web_dir, model_path = map(pathlib.Path, (output_dir, web_dir, model_path))
    if not model_path.exists():
        raise FileNotFoundError(f"model not found: {model_path}")
    runtime = runtime_dir(web_dir)
    missing = [name for name in RUNTIME_FILES if not (runtime / name).is_file()]
    if missing:
        raise FileNotFoundError(
            f"onnxruntime-web is not installed in {runtime} (missing {', '.join(missing)}): "
            f"run `make web`, or `npm ci --prefix {web_dir}`")
    (output_dir / "ort").mkdir(parents=True, exist_ok=True)
    for name in PAGE_FILES:
        shutil.copyfile(web_dir / name, output_dir / name)
    for name in RUNTIME_FILES:
        _copy_if_changed(runtime / name, output_dir / "ort" / name)
    target = output_dir / MODEL_NAME
    if model_path.suffix == ".onnx":
        _copy_if_changed(model_path, target)
    else:
        _export_if_changed(model_path, target)
    return target


def _copy_if_changed(source, target):
    if target.is_file() and target.stat().st_size == source.stat().st_size \
            and target.stat().st_mtime >= source.stat().st_mtime:
        return
    shutil.copyfile(source, target)


def _fingerprint(path):
    """sha256 of the weights: the file, or a training run's generator.weights.h5 (the run's
    checkpoints beside it do not change what is exported)."""
    if path.is_dir():
        from animegan_face.training.run_folder import RunFolder  # pylint: disable=import-outside-toplevel

        path = RunFolder(path).generator_path
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _export_if_changed(model_path, target):
    note = target.with_name(_SOURCE_NOTE)
    wanted = {"source": str(model_path), "sha256": _fingerprint(model_path)}
    if target.is_file() and note.is_file() and json.loads(note.read_text()) == wanted:
        return
    # TensorFlow only when an export is needed: serving a built site needs neither it nor Keras.
    from animegan_face.deployment import export  # pylint: disable=import-outside-toplevel
    from animegan_face.deployment.inference import load_keras_generator  # pylint: disable=import-outside-toplevel

    generator = load_keras_generator(model_path)
    # With export.py's record in the site folder: a killed build's partial file is its own to
    # remove, a user's file under that name is not.
    export.export_onnx(generator, target.parent, export.check_photos(None, 256, 2),
                       owned=export.owned_outputs(target.parent))
    note.write_text(json.dumps(wanted, indent=1) + "\n")


class IsolatedHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with the headers that make the page cross-origin isolated, and the right
    types for ES modules and WebAssembly; nothing cached (a rebuilt model shows at once)."""

    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
        ".onnx": "application/octet-stream",
    }
    quiet = False

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def copyfile(self, source, outputfile):
        try:
            super().copyfile(source, outputfile)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser left (a reload mid-download): nothing to answer

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        if not self.quiet:
            super().log_message(format, *args)


def make_server(site_dir, host="127.0.0.1", port=8000, quiet=False, handler=IsolatedHandler):
    """A threading HTTP server for `site_dir` (port 0: any free port; see `server_address`);
    `handler` an IsolatedHandler subclass."""
    handler = type("Handler", (handler,), {"quiet": quiet})
    return http.server.ThreadingHTTPServer(
        (host, port), functools.partial(handler, directory=str(site_dir)))
