"""Builds the in-browser page (web/) into a static site and serves it on this machine.

    python web.py                      # build runs/web, serve http://127.0.0.1:8000/
    python web.py --serve=false --output_dir=public/   # only build, for any static host

The photo never leaves the browser: the page downloads the generator (ONNX) and runs it with
onnxruntime-web (WebAssembly, or WebGPU where available). onnxruntime-web comes from
web/node_modules (`npm ci --prefix web`; `make web` does both steps). A `.weights.h5` --model is
exported to ONNX on the first build (checked against Keras, as export.py does) and again only
when the file changes.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from animegan_face.deployment.inference import SHIPPED_MODEL  # noqa: E402

flags.DEFINE_string("model", str(SHIPPED_MODEL / "generator.weights.h5"),
                    "The generator: a .onnx file, a .weights.h5 file or a training model_dir.")
flags.DEFINE_string("output_dir", "runs/web", "Where the static site is written.")
flags.DEFINE_bool("serve", True, "Serve the site after building it.")
flags.DEFINE_string("host", "127.0.0.1", "Address to serve on (127.0.0.1: this machine only).")
flags.DEFINE_integer("port", 8000, "Port to serve on.")
FLAGS = flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    from animegan_face.deployment.inference import ModelLoadError
    from animegan_face.deployment.web_site import build_site, make_server

    try:
        model = build_site(FLAGS.output_dir, FLAGS.model)
    except (FileNotFoundError, ModelLoadError) as error:
        sys.exit(f"web.py: {error}")
    print(f"built {FLAGS.output_dir} ({model.name}: {model.stat().st_size / 2 ** 20:.1f} MiB)")
    if not FLAGS.serve:
        return
    server = make_server(FLAGS.output_dir, FLAGS.host, FLAGS.port)
    host, port = server.server_address[:2]
    print(f"serving on http://{host}:{port}/ (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    app.run(main)
