"""The in-browser page against onnxruntime in Python: time per image at 256 and 512 px, side by
side in one run, and the page's weight (bytes downloaded before its first result).

    python bench/web.py --sizes=256,512 --runs=5 --rounds=2
    python bench/web.py --sizes=256 --runs=1 --rounds=1 --screenshot=docs/web_page.png  # README picture

Builds the site (`web.py`'s build: the shipped weights exported to ONNX once, into --site_dir),
serves it on 127.0.0.1 and opens it in Debian's headless Chromium with an empty profile (nothing
cached). First the page stylises --photo at the first size as a visitor would; every byte the
server sent until that result was shown is the page weight. Then, interleaved round by round:
the model alone on one random square image per call, in the page (onnxruntime-web, WebAssembly,
as many threads as the page takes: one per core, at most 8) and in Python (`OnnxStylizer`:
onnxruntime's CPU provider on every core), the median of --runs calls after a warm-up. The page's
whole path for the photo (decode, resize, pad, model, crop, resize back, draw) is timed once per
round too.
"""

import os
import pathlib
import sys
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from animegan_face.deployment import web_site  # noqa: E402
from animegan_face.deployment.headless_chromium import headless_chromium  # noqa: E402
from animegan_face.deployment.inference import SHIPPED_MODEL, OnnxStylizer  # noqa: E402

flags.DEFINE_string("model", str(SHIPPED_MODEL / "generator.weights.h5"),
                    "The generator (.onnx, .weights.h5 or a training model_dir).")
flags.DEFINE_string("site_dir", "runs/web", "Where the site is built (reused when up to date).")
flags.DEFINE_list("sizes", ["256", "512"], "Square sizes the model is timed at, and the page's "
                  "size choices (multiples of 4).")
flags.DEFINE_integer("runs", 5, "Timed calls per runtime, size and round.")
flags.DEFINE_integer("rounds", 2, "Interleaved rounds.")
flags.DEFINE_string("photo", "assets/astronaut.jpg", "The photo the page stylises.")
flags.DEFINE_string("screenshot", "", "Write a PNG of the page showing the photo's result here.")
flags.DEFINE_integer("screenshot_width", 640, "Width the screenshot is scaled to.")
FLAGS = flags.FLAGS


class _CountingHandler(web_site.IsolatedHandler):
    """Counts the bytes of every file body sent (headers are a few hundred bytes a file)."""

    sent = {}
    lock = threading.Lock()

    def copyfile(self, source, outputfile):
        start = source.tell()
        super().copyfile(source, outputfile)
        with self.lock:
            self.sent[self.path] = self.sent.get(self.path, 0) + source.tell() - start


def _wait_for_phase(driver, phases, timeout=900):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        phase = driver.execute_script("return window.animegan && window.animegan.phase")
        if phase in phases:
            return phase
        time.sleep(0.02)
    raise TimeoutError(f"the page did not reach {phases} within {timeout} s")


def _stylise_photo(driver, photo, size):
    from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
    from selenium.webdriver.support.ui import Select  # pylint: disable=import-outside-toplevel

    Select(driver.find_element(By.ID, "size")).select_by_value(str(size))
    driver.execute_script("window.animegan.phase = 'waiting'")
    driver.find_element(By.ID, "file").send_keys(str(photo))
    if _wait_for_phase(driver, ("done", "error")) != "done":
        raise RuntimeError(driver.execute_script("return window.animegan.error"))
    return driver.execute_script("return window.animegan.lastTiming")


def _page_model_times(driver, size, runs, warm_up):
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "window.animegan.timeModel(arguments[0], arguments[0], arguments[1], arguments[2])"
        ".then(done);", size, runs, warm_up)


def _python_times(stylizer, size, runs):
    image = np.random.default_rng(0).uniform(-1, 1, (1, size, size, 3)).astype(np.float32)
    stylizer(image)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        stylizer(image)
        times.append(1000 * (time.perf_counter() - start))
    return times


def _screenshot(driver, path, width):
    import cv2  # pylint: disable=import-outside-toplevel

    from animegan_face.data.image_files import write_image  # pylint: disable=import-outside-toplevel

    driver.set_window_size(1200, 900)
    png = driver.get_screenshot_as_png()
    rgb = cv2.cvtColor(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR),
                       cv2.COLOR_BGR2RGB)
    height = round(rgb.shape[0] * width / rgb.shape[1])
    write_image(path, cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA))


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    sizes = [int(size) for size in FLAGS.sizes]
    photo = pathlib.Path(FLAGS.photo).resolve()
    model = web_site.build_site(FLAGS.site_dir, FLAGS.model)
    server = web_site.make_server(FLAGS.site_dir, "127.0.0.1", 0, quiet=True,
                                  handler=_CountingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/?sizes=%s" % (server.server_address[1], ",".join(map(str, sizes)))
    stylizer = OnnxStylizer(model)
    with tempfile.TemporaryDirectory() as profile:
        driver = headless_chromium(profile, pathlib.Path(profile) / "profile")
        driver.set_script_timeout(1800)  # timeModel at 512 px on a busy 2-core machine
        try:
            driver.get(url)
            if _wait_for_phase(driver, ("ready", "error")) != "ready":
                raise RuntimeError(driver.execute_script("return window.animegan.error"))
            first = _stylise_photo(driver, photo, sizes[0])
            with _CountingHandler.lock:
                weight = dict(_CountingHandler.sent)
            if FLAGS.screenshot:
                _screenshot(driver, FLAGS.screenshot, FLAGS.screenshot_width)
            state = driver.execute_script(
                "const s = window.animegan; return [s.backend, s.threads, crossOriginIsolated]")
            browser_ms = {size: [] for size in sizes}
            python_ms = {size: [] for size in sizes}
            page_ms = {size: [] for size in sizes}
            for size in sizes:  # warm-ups, untimed
                _page_model_times(driver, size, 0, warm_up=True)
            for _ in range(FLAGS.rounds):
                for size in sizes:
                    for _ in range(FLAGS.runs):  # one call each: selenium waits 120 s at most
                        browser_ms[size] += _page_model_times(driver, size, 1, warm_up=False)
                    python_ms[size] += _python_times(stylizer, size, FLAGS.runs)
                    page_ms[size].append(_stylise_photo(driver, photo, size)["totalMs"])
            version = driver.capabilities.get("browserVersion", "?")
        finally:
            driver.quit()
            server.shutdown()
    print(f"Chromium {version} (headless), onnxruntime-web {state[0]} on {state[1]} thread(s), "
          f"cross-origin isolated: {state[2]}; Python onnxruntime CPU provider on "
          f"{os.cpu_count()} thread(s); {model.name} {model.stat().st_size / 2 ** 20:.1f} MiB; "
          f"median of {FLAGS.runs} x {FLAGS.rounds} calls")
    print()
    print("| size | page (onnxruntime-web) ms | Python (onnxruntime) ms | page / Python | "
          f"page, {photo.name} to picture ms |")
    print("| --- | --- | --- | --- | --- |")
    for size in sizes:
        browser, python = np.median(browser_ms[size]), np.median(python_ms[size])
        print(f"| {size} | {browser:.0f} | {python:.0f} | {browser / python:.2f} | "
              f"{np.median(page_ms[size]):.0f} |")
    print()
    total = sum(weight.values())
    print(f"Page weight before the first result ({photo.name} at {sizes[0]} px, "
          f"{first['totalMs']:.0f} ms after choosing it): {total / 2 ** 20:.2f} MiB "
          f"({total} bytes) in {len(weight)} files")
    for path, size in sorted(weight.items(), key=lambda item: -item[1]):
        print(f"  {path}: {size} bytes")


if __name__ == "__main__":
    app.run(main)
