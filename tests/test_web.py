"""Tests for the in-browser page (web/, animegan_face/deployment/web_site.py, web.py).

The page's resizes run in Node against cv2.resize; the page itself runs in Debian's headless
Chromium (`make test` installs it, and onnxruntime-web into web/node_modules: nothing here skips)
on a randomly initialised AnimeGANv2 generator exported to ONNX at test time, and its pixels are
compared with stylize.py's full-frame path on onnxruntime's CPU provider.
"""

import base64
import json
import pathlib
import subprocess
import threading
import urllib.request

import numpy as np
import pytest

from animegan_face.data.image_files import read_image, write_image
from animegan_face.deployment import web_site
from animegan_face.deployment.inference import OnnxStylizer
from animegan_face.deployment.stylize import stylize_full
from animegan_face.deployment.headless_chromium import headless_chromium
from tests.helpers import wait_for_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
# Seconds the page may take to load the model and stylise a test photo (about 1-3 s here).
PAGE_TIMEOUT = 60


def _photo(height, width, seed):
    """A smooth random photo (noise blurred: real images are smooth, and smooth inputs keep the
    random generator's output away from the clipping at 0 and 255)."""
    import cv2  # pylint: disable=import-outside-toplevel

    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 3)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built around a random AnimeGANv2 generator (the shipped architecture)."""
    import onnx  # pylint: disable=import-outside-toplevel

    from animegan_face.deployment.onnx_converter import generator_to_onnx  # pylint: disable=import-outside-toplevel
    from animegan_face.models.networks import build_generator  # pylint: disable=import-outside-toplevel

    root = tmp_path_factory.mktemp("web")
    onnx.save(generator_to_onnx(build_generator("animegan_v2")), root / "random.onnx")
    model = web_site.build_site(root / "site", root / "random.onnx")
    return root / "site", model


@pytest.fixture(scope="module")
def server(site):
    httpd = web_site.make_server(site[0], "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    host, port = httpd.server_address[:2]
    yield f"http://{host}:{port}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    root = tmp_path_factory.mktemp("chromium")
    (root / "downloads").mkdir()
    driver = headless_chromium(root / "downloads", root / "profile")
    driver.downloads = root / "downloads"
    yield driver
    driver.quit()


def _wait_for_phase(driver, phases, timeout=PAGE_TIMEOUT):
    from selenium.webdriver.support.ui import WebDriverWait  # pylint: disable=import-outside-toplevel

    WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        lambda d: d.execute_script("return window.animegan && window.animegan.phase") in phases)
    return driver.execute_script("return window.animegan.phase")


def _open(driver, url):
    driver.get(url)
    assert _wait_for_phase(driver, ("ready", "error")) == "ready", \
        driver.execute_script("return window.animegan.error")


def _choose(driver, path, size):
    from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel
    from selenium.webdriver.support.ui import Select  # pylint: disable=import-outside-toplevel

    Select(driver.find_element(By.ID, "size")).select_by_value(str(size))
    driver.execute_script("window.animegan.phase = 'waiting'")
    driver.find_element(By.ID, "file").send_keys(str(path))
    return _wait_for_phase(driver, ("done", "error"))


def _page_result(driver):
    """The page's stylised picture as a uint8 (H, W, 3) array."""
    encoded = driver.execute_script("""
        const image = window.animegan.lastResult;
        let text = '';
        for (let i = 0; i < image.data.length; i += 8192) {
          text += String.fromCharCode.apply(null, image.data.subarray(i, i + 8192));
        }
        return [image.height, image.width, btoa(text)];""")
    height, width, data = encoded
    return np.frombuffer(base64.b64decode(data), np.uint8).reshape(height, width, 3)


def test_server_isolates_the_page_and_serves_modules_and_wasm(server):
    for path, content_type in (("", "text/html"), ("app.js", "text/javascript"),
                               ("ort/ort.wasm.min.mjs", "text/javascript"),
                               ("ort/ort-wasm-simd-threaded.wasm", "application/wasm")):
        with urllib.request.urlopen(server + path) as response:
            assert response.headers["Content-Type"].startswith(content_type), path
            assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
            assert response.headers["Cross-Origin-Embedder-Policy"] == "require-corp"


def test_web_py_builds_a_static_site_and_names_a_missing_model(site, tmp_path):
    import sys  # pylint: disable=import-outside-toplevel

    def web_py(*arguments):
        return subprocess.run([sys.executable, str(ROOT / "web.py"), "--serve=false", *arguments],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)

    done = web_py(f"--model={site[1]}", f"--output_dir={tmp_path / 'public'}")
    assert done.returncode == 0, done.stderr
    built = {path.relative_to(tmp_path / "public").as_posix()
             for path in (tmp_path / "public").rglob("*") if path.is_file()}
    assert built == {*web_site.PAGE_FILES, web_site.MODEL_NAME,
                     *(f"ort/{name}" for name in web_site.RUNTIME_FILES)}
    assert (tmp_path / "public" / "generator.onnx").read_bytes() == site[1].read_bytes()
    missing = web_py(f"--model={tmp_path / 'nothing.onnx'}", f"--output_dir={tmp_path / 'other'}")
    assert missing.returncode != 0
    assert f"model not found: {tmp_path / 'nothing.onnx'}" in missing.stderr
    assert not (tmp_path / "other").exists()  # nothing half-built


def test_build_fails_naming_npm_when_onnxruntime_web_is_missing(tmp_path):
    web = tmp_path / "web"
    web.mkdir()
    (tmp_path / "model.onnx").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="npm ci"):
        web_site.build_site(tmp_path / "site", tmp_path / "model.onnx", web_dir=web)
    assert not (tmp_path / "site").exists()


def test_page_resizes_like_opencv(tmp_path):
    """web/imageops.mjs against cv2.resize on the same uint8 images, in Node.

    INTER_AREA (shrinking) accumulates in float32 in OpenCV and in float64 here, and OpenCV's
    INTER_CUBIC (enlarging) sums in float too: the two can round a value that lies within float32
    rounding of a half differently, so single samples may differ by 1 (measured: at most 0.04 %
    of them). The linear case (INTER_AREA with a side that grows, photos under 4 px) is OpenCV's
    fixed-point SIMD code, matched to 1 level.
    """
    import cv2  # pylint: disable=import-outside-toplevel

    cases = [  # (interpolation, source w, h, target w, h, largest fraction of samples off by 1)
        ("area", 300, 200, 256, 171, 0.002), ("area", 512, 384, 256, 192, 0.0),
        ("area", 1000, 37, 768, 28, 0.002), ("area", 97, 131, 64, 86, 0.002),
        ("cubic", 256, 171, 300, 200, 0.002), ("cubic", 64, 43, 150, 100, 0.002),
        ("cubic", 5, 7, 33, 41, 0.002), ("area", 3, 2000, 4, 768, 0.2),
    ]
    jobs = []
    for index, (kind, width, height, new_width, new_height, _) in enumerate(cases):
        image = _photo(height, width, index) if index % 2 else np.random.default_rng(index).integers(
            0, 256, (height, width, 3), dtype=np.uint8)
        path = tmp_path / f"{index}.rgb"
        image.tofile(path)
        jobs.append({"kind": kind, "width": width, "height": height, "new_width": new_width,
                     "new_height": new_height, "path": str(path)})
    script = """
        import { resizeArea, resizeCubic } from '%s';
        import fs from 'node:fs';
        for (const job of JSON.parse(fs.readFileSync(process.argv[1]))) {
          const image = { width: job.width, height: job.height, data: new Uint8Array(fs.readFileSync(job.path)) };
          const resize = job.kind === 'area' ? resizeArea : resizeCubic;
          fs.writeFileSync(job.path + '.out', resize(image, job.new_width, job.new_height).data);
        }""" % (ROOT / "web" / "imageops.mjs").as_uri()
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    done = subprocess.run(["node", "--input-type=module", "-e", script, str(tmp_path / "jobs.json")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    for job, case in zip(jobs, cases):
        source = np.fromfile(job["path"], np.uint8).reshape(job["height"], job["width"], 3)
        flag = cv2.INTER_AREA if job["kind"] == "area" else cv2.INTER_CUBIC
        expected = cv2.resize(source, (job["new_width"], job["new_height"]), interpolation=flag)
        got = np.fromfile(job["path"] + ".out", np.uint8).reshape(expected.shape)
        difference = np.abs(got.astype(int) - expected)
        assert difference.max() <= 1, case
        assert (difference > 0).mean() <= case[-1], case


# The page against stylize.py on the same photo. The two runtimes compute the same float32 graph
# with different kernels (onnxruntime-web's WebAssembly SIMD-128 against the CPU provider's
# AVX2/AVX-512 ones): sums in other orders, amplified through the generator's ~30 layer norms, off
# by about 1e-4 of the [-1, 1] range (export.py's ONNX-against-Keras figures are of this size),
# about 0.01 of one uint8 level. A sample moves only where that straddles a rounding half: by 1
# level, on few samples (measured: 0.18 %). WebAssembly's float32 arithmetic is the same on every
# CPU, and the CPU provider's kernels differ between x86-64 CPUs by rounding only, so this holds
# on any of them. Shrunk photos also go through the two resizes, whose own 1-level roundings
# (0.04 % of samples, test above) the generator and the 16-tap enlargement spread (measured: 2
# levels at most, 2.1 % of samples); the bounds leave 5x and 2.5x.
@pytest.mark.parametrize("height, width, size, most, fraction", [
    (90, 118, 256, 1, 0.01),     # no resize: the padding to 92 x 120 and the crop only
    (300, 400, 256, 3, 0.05),    # shrunk (INTER_AREA) to 256 x 192, enlarged back (INTER_CUBIC)
])
def test_page_matches_onnxruntime_in_python(site, server, browser, tmp_path, height, width, size,
                                            most, fraction):
    photo = _photo(height, width, seed=height)
    path = tmp_path / "photo.png"
    write_image(path, photo)
    _open(browser, server)
    assert browser.execute_script("return crossOriginIsolated") is True
    assert browser.execute_script("return window.animegan.threads") == min(
        browser.execute_script("return navigator.hardwareConcurrency"), 8)
    assert _choose(browser, path, size) == "done", browser.execute_script(
        "return window.animegan.error")
    page = _page_result(browser)
    expected = stylize_full(OnnxStylizer(site[1]), read_image(path), max_side=size)
    assert page.shape == expected.shape == photo.shape
    difference = np.abs(page.astype(int) - expected)
    assert difference.max() <= most
    assert (difference > 0).mean() <= fraction
    # the result must be the model's, not the photo passed through
    assert np.abs(page.astype(int) - photo).mean() > 10


def test_download_is_the_shown_result(server, browser, tmp_path):
    path = tmp_path / "portrait.png"
    write_image(path, _photo(64, 48, seed=5))
    _open(browser, server)
    assert _choose(browser, path, 256) == "done"
    shown = _page_result(browser)
    from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel

    link = browser.find_element(By.ID, "download")
    from selenium.webdriver.support.ui import WebDriverWait  # pylint: disable=import-outside-toplevel

    WebDriverWait(browser, 10).until(lambda _: link.is_displayed())
    link.click()
    downloaded = wait_for_file(browser.downloads, "portrait_anime*.png")
    assert np.array_equal(read_image(downloaded), shown)


def test_broken_image_shows_the_error(server, browser, tmp_path):
    photo = tmp_path / "photo.png"
    write_image(photo, _photo(32, 32, seed=1))
    broken = tmp_path / "broken.png"
    broken.write_bytes(photo.read_bytes()[:60])  # a PNG cut after its header
    _open(browser, server)
    assert _choose(browser, broken, 256) == "error"
    from selenium.webdriver.common.by import By  # pylint: disable=import-outside-toplevel

    message = browser.find_element(By.ID, "error")
    assert message.is_displayed()
    assert "broken.png" in message.text and "not an image this browser can read" in message.text
    # and a good photo after it works, clearing the message
    assert _choose(browser, photo, 256) == "done"
    assert not message.is_displayed()


def test_photo_too_large_for_the_memory_budget_is_stylised_smaller(server, browser, tmp_path):
    path = tmp_path / "large.png"
    write_image(path, _photo(200, 600, seed=2))
    # 1 MiB: too little for any size; the page uses its smallest and says so.
    _open(browser, server + "?memory_budget_mb=1")
    assert _choose(browser, path, 512) == "done"
    timing = browser.execute_script("return window.animegan.lastTiming")
    assert (timing["workWidth"], timing["workHeight"]) == (256, 85)
    notice = browser.execute_script("return window.animegan.notice")
    assert "At 512 px" in notice and "at 256 px instead" in notice
    assert _page_result(browser).shape == (200, 600, 3)


def test_build_exports_weights_to_onnx_once_and_again_when_they_change(tmp_path, monkeypatch):
    import keras  # pylint: disable=import-outside-toplevel

    from animegan_face.deployment import export  # pylint: disable=import-outside-toplevel
    from animegan_face.models.networks import build_generator  # pylint: disable=import-outside-toplevel

    checked = []
    original = export.check_photos

    def small_check_photos(folder, size, count):
        checked.append(size)
        return original(folder, 64, 1)  # the export's own check, on one small photo

    monkeypatch.setattr(export, "check_photos", small_check_photos)
    weights = tmp_path / "generator.weights.h5"
    generator = build_generator("animegan_v2")
    generator.save_weights(weights)
    (tmp_path / "site").mkdir()
    leftover = tmp_path / "site" / "generator.partial.onnx"  # what a killed build leaves
    export.owned_outputs(tmp_path / "site").start(leftover)
    leftover.write_bytes(b"half written")
    model = web_site.build_site(tmp_path / "site", weights)
    assert not leftover.exists()
    first = model.read_bytes()
    images = np.random.default_rng(0).uniform(-1, 1, (1, 32, 48, 3)).astype(np.float32)
    # the same float32 network in two runtimes: v2 differed by under 1e-4 at 256 px (export.py)
    np.testing.assert_allclose(OnnxStylizer(model)(images),
                               np.asarray(generator(images, training=False)), atol=1e-3)
    web_site.build_site(tmp_path / "site", weights)
    assert len(checked) == 1  # unchanged weights: not exported again
    keras.utils.set_random_seed(99)
    build_generator("animegan_v2").save_weights(weights)
    web_site.build_site(tmp_path / "site", weights)
    assert len(checked) == 2 and model.read_bytes() != first


def test_a_run_that_fails_is_retried_smaller_and_said_so(server, browser, tmp_path):
    """A device that runs out of memory: the page's session.run made to fail above 100 px high."""
    path = tmp_path / "tall.png"
    write_image(path, _photo(200, 100, seed=3))
    _open(browser, server + "?sizes=128,64")  # small sizes: a quick test
    browser.execute_script("""
        const session = window.animegan.session;
        const run = session.run.bind(session);
        window.failAbove = 100;
        session.run = async (feeds) => {
          if (Object.values(feeds)[0].dims[1] > window.failAbove) {
            throw new Error('memory access out of bounds');
          }
          return run(feeds);
        };""")
    assert _choose(browser, path, 128) == "done"  # 128 px high fails, 32 x 64 runs
    timing = browser.execute_script("return window.animegan.lastTiming")
    assert (timing["workWidth"], timing["workHeight"]) == (32, 64)
    notice = browser.execute_script("return window.animegan.notice")
    assert "At 128 px the model failed" in notice and "memory access out of bounds" in notice
    assert "at 64 px instead" in notice
    browser.execute_script("window.failAbove = 0")
    assert _choose(browser, path, 128) == "error"
    assert "even at 64 px: memory access out of bounds" in browser.execute_script(
        "return window.animegan.error")
