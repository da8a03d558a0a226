"""The thesis' blind rating: a static page that collects 0-10 scores, and their aggregation.

The thesis had 10 raters score 100 images each from 0 to 10 and reported the mean score x 10
("x100" of a 0-10 scale read as a percentage: AnimeGAN 64.67, thesis 82.09). Here:

* :func:`make_page` shuffles the outputs of several models (seeded), gives every image a random
  opaque id, and returns one self-contained HTML page (images as data URIs, no model names, no
  network access) plus the **key**: which model and file each id is. The key must stay with the
  organiser; the page can go to raters by mail or a file share.
* The page keeps each rater's scores in the browser's localStorage and in its address's fragment
  (closing the browser or reloading loses nothing) and exports them as a JSON file
  (SCORES_FORMAT): ``{"page_id", "rater", "scores": {id: 0..10}}``.
* :func:`aggregate` joins the key with any number of exported files into one row per model.
"""

import base64
import hashlib
import html
import json
import secrets

import cv2
import numpy as np

KEY_FORMAT = "animegan-face-rating-key/1"
SCORES_FORMAT = "animegan-face-rating-scores/1"
MAX_SCORE = 10


class ScoresError(ValueError):
    """An exported score file that does not fit the key; the message names the file and why."""


def make_page(images_by_model, seed=0, max_side=512, title="Rate the anime faces"):
    """The rating page and its key.

    Args:
        images_by_model: ``{model name: [(file name, uint8 RGB array), ...]}``.
        seed: the shuffle's seed (the ids are random regardless, so the key is the only link).
        max_side: images with a longer side are shrunk to it (INTER_AREA) to keep the page small.

    Returns:
        ``(page, key)``: the HTML text and the key dict (KEY_FORMAT), ``key["images"]`` mapping
        each image id to ``{"model": name, "file": file name}``.
    """
    entries = [(name, file_name, rgb) for name, images in images_by_model.items()
               for file_name, rgb in images]
    if not entries:
        raise ValueError("no image to rate")
    order = np.random.default_rng(seed).permutation(len(entries))
    page_id = secrets.token_hex(8)
    ids = _unique_tokens(len(entries))
    items, key_images = [], {}
    for image_id, index in zip(ids, order):
        name, file_name, rgb = entries[index]
        items.append({"id": image_id, "src": _data_uri(_shrink(rgb, max_side))})
        key_images[image_id] = {"model": name, "file": file_name}
    key = {"format": KEY_FORMAT, "page_id": page_id, "seed": int(seed),
           "models": sorted(images_by_model), "images": key_images}
    return _render(page_id, title, items), key


def aggregate(key, score_files):
    """One row per model of the key: ``(model, raters, images, mean score x 10)``.

    Args:
        key: the dict :func:`make_page` returned (as read back from its JSON file).
        score_files: ``[(file name, parsed JSON), ...]`` exported by the page.

    ``raters`` counts the raters (``unique_raters``: each once, however many files carry their
    scores) who scored at least one image of the model, ``images`` the distinct images of the
    model that somebody scored, and the mean is over every (rater, image) score of the model,
    times 10 (so 0..100; None when nobody scored the model).

    Raises:
        ScoresError: a key that is not one, a file from another page, with an unknown image id,
            or a score that is not an integer 0..10.
    """
    check_key(key)
    scored = {model: [] for model in key["models"]}
    raters = {model: set() for model in key["models"]}
    images = {model: set() for model in key["models"]}
    for file_name, document in unique_raters(key, score_files)[0]:
        for image_id, score in _checked_scores(key, file_name, document).items():
            model = key["images"][image_id]["model"]
            scored[model].append(score)
            raters[model].add(file_name)
            images[model].add(image_id)
    return [(model, len(raters[model]), len(images[model]),
             10.0 * float(np.mean(scored[model])) if scored[model] else None)
            for model in key["models"]]


def check_key(key, name="the key"):
    """ScoresError unless ``key`` is a key that make_page wrote."""
    if (not isinstance(key, dict) or key.get("format") != KEY_FORMAT
            or not isinstance(key.get("images"), dict) or not isinstance(key.get("models"), list)):
        raise ScoresError(f"{name}: not a rating key written by `rate.py make` ({KEY_FORMAT})")


def unique_raters(key, score_files):
    """``(kept, duplicates)``: each rater's scores once, and ``[(file name, why)]`` of the rest.

    Two files are the same rater when they give the same rater name (trimmed, case-insensitive;
    of those the file that scored the most images is kept, the later one on a tie), or the very
    same scores (a file given twice, or a renamed copy; a rater name changed by hand included).
    Every file is checked first (``ScoresError``).
    """
    for file_name, document in score_files:
        _checked_scores(key, file_name, document)
    raters = [str(document.get("rater", "")).strip().casefold() or f"\0{index}"
              for index, (_, document) in enumerate(score_files)]
    chosen = {}  # rater -> index of the file kept
    for index, rater in enumerate(raters):
        if rater not in chosen or (len(score_files[index][1]["scores"])
                                   >= len(score_files[chosen[rater]][1]["scores"])):
            chosen[rater] = index
    kept, duplicates, by_content = [], [], {}
    for index, (file_name, document) in enumerate(score_files):
        if chosen[raters[index]] != index:
            duplicates.append((file_name, f"the same rater ({document.get('rater')!r}) as "
                                          f"{score_files[chosen[raters[index]]][0]}"))
            continue
        digest = _scores_digest(document["scores"])
        if document["scores"] and digest in by_content:
            duplicates.append((file_name, f"the same scores as {by_content[digest]}"))
            continue
        by_content[digest] = file_name
        kept.append((file_name, document))
    return kept, duplicates


def _scores_digest(scores):
    canonical = json.dumps(sorted(scores.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def incomplete_raters(key, score_files):
    """``[(file name, rater, scored, total)]`` of the files that did not score every image."""
    total = len(key["images"])
    return [(file_name, document.get("rater", ""), len(document.get("scores", {})), total)
            for file_name, document in score_files if len(document.get("scores", {})) < total]


def markdown_table(rows):
    """The thesis' table 3 layout: model | raters | images | mean score x100."""
    lines = ["| model | raters | images | mean score x100 |", "| --- | --- | --- | --- |"]
    for model, rater_count, image_count, mean in rows:
        shown = "n/a" if mean is None else f"{mean:.2f}"
        lines.append(f"| {model} | {rater_count} | {image_count} | {shown} |")
    return "\n".join(lines)


def _checked_scores(key, file_name, document):
    if not isinstance(document, dict) or document.get("format") != SCORES_FORMAT:
        raise ScoresError(f"{file_name}: not a score file exported by the rating page")
    if document.get("page_id") != key["page_id"]:
        raise ScoresError(f"{file_name}: scores of another rating page "
                          f"(page {document.get('page_id')}, key {key['page_id']})")
    scores = document.get("scores")
    if not isinstance(scores, dict):
        raise ScoresError(f"{file_name}: 'scores' must map image ids to scores")
    for image_id, score in scores.items():
        if image_id not in key["images"]:
            raise ScoresError(f"{file_name}: unknown image id {image_id!r}")
        if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= MAX_SCORE:
            raise ScoresError(f"{file_name}: score of {image_id} must be an integer 0..10, got {score!r}")
    return scores


def _unique_tokens(count):
    tokens = set()
    while len(tokens) < count:
        tokens.add(secrets.token_hex(4))
    return sorted(tokens)  # sorted, so that the id order says nothing about the model order


def _shrink(rgb, max_side):
    rgb = np.asarray(rgb, np.uint8)
    height, width = rgb.shape[:2]
    scale = max_side / max(height, width)
    if scale >= 1:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


def _data_uri(rgb):
    # PNG: lossless, so raters judge the model's output and not a second compression.
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("PNG encoding failed")
    return "data:image/png;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


def _render(page_id, title, items):
    # "</" is escaped so that no data can close the <script> element that carries it.
    config = json.dumps({"pageId": page_id, "format": SCORES_FORMAT, "maxScore": MAX_SCORE,
                         "items": items}).replace("</", "<\\/")
    return (_PAGE.replace("{{TITLE}}", html.escape(title))
            .replace("{{CONFIG}}", config))


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{TITLE}}</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 0 auto; max-width: 760px; padding: 12px; }
  header { display: flex; flex-wrap: wrap; gap: 12px; align-items: center; }
  #stage { text-align: center; margin: 12px 0; }
  #image { max-width: 100%; max-height: 70vh; image-rendering: auto; border: 1px solid #ccc; }
  #scores button { width: 44px; height: 44px; font-size: 18px; margin: 2px; }
  #scores button.chosen { background: #2b6cb0; color: white; }
  nav { display: flex; justify-content: space-between; margin-top: 8px; }
  #done { color: #276749; font-weight: bold; }
</style>
</head>
<body>
<header>
  <h1 style="font-size: 20px; margin: 0">{{TITLE}}</h1>
  <label>Your name <input id="rater" autocomplete="off"></label>
  <span id="progress"></span>
  <button id="export">Export scores</button>
</header>
<p>Score how good each picture is as an anime-style face, from 0 (worst) to 10 (best).
Keys: 0-9 score, "t" scores 10, arrows move. Scores are kept in this browser until you export them.</p>
<div id="stage">
  <div id="position"></div>
  <img id="image" alt="image to rate">
  <div id="scores"></div>
  <nav><button id="previous">&larr; Previous</button><button id="next-unrated">Next unrated</button>
  <button id="next">Next &rarr;</button></nav>
  <p id="done" hidden>All images are scored: press "Export scores" and send the file.</p>
</div>
<script id="config" type="application/json">{{CONFIG}}</script>
<script>
"use strict";
const config = JSON.parse(document.getElementById("config").textContent);
const storageKey = "animegan-face-rating:" + config.pageId;
// The state is kept twice: in localStorage, which outlives the browser, and in the address's
// fragment, which outlives a reload. Headless Chromium was seen (about 1 reload in 20 on a loaded
// machine) to give a reloaded page an empty localStorage that still held every write on disk
// afterwards; the fragment does not depend on that. The newer copy (higher revision) wins.
function fromFragment() {
  try {
    const carried = JSON.parse(decodeURIComponent(location.hash.replace(/^#state=/, "")));
    return carried.pageId === config.pageId ? carried : {};
  } catch (error) { return {}; }
}
const stored = JSON.parse(localStorage.getItem(storageKey) || "{}");
const carried = fromFragment();
const state = Object.assign({rater: "", scores: {}, position: 0, revision: 0},
                            (carried.revision || 0) > (stored.revision || 0) ? carried : stored,
                            {pageId: config.pageId});
const $ = (id) => document.getElementById(id);

function save() {
  state.revision += 1;
  const text = JSON.stringify(state);
  localStorage.setItem(storageKey, text);
  history.replaceState(null, "", "#state=" + encodeURIComponent(text));
}
function ratedCount() { return config.items.filter((item) => item.id in state.scores).length; }

function show() {
  const item = config.items[state.position];
  $("image").src = item.src;
  $("image").dataset.id = item.id;
  $("position").textContent = "Image " + (state.position + 1) + " of " + config.items.length;
  for (const button of $("scores").children) {
    button.classList.toggle("chosen", state.scores[item.id] === Number(button.dataset.score));
  }
  const rated = ratedCount();
  $("progress").textContent = rated + " / " + config.items.length + " scored";
  $("done").hidden = rated < config.items.length;
}

function go(position) {
  state.position = Math.min(Math.max(position, 0), config.items.length - 1);
  save();
  show();
}

function nextUnrated() {
  for (let step = 1; step <= config.items.length; step++) {
    const position = (state.position + step) % config.items.length;
    if (!(config.items[position].id in state.scores)) return go(position);
  }
  show();
}

function score(value) {
  state.scores[config.items[state.position].id] = value;
  save();
  nextUnrated();
}

function exportScores() {
  const rater = state.rater.trim();
  if (!rater) { alert("Please enter your name first."); $("rater").focus(); return; }
  const document_ = {format: config.format, page_id: config.pageId, rater: rater,
                     exported: new Date().toISOString(), scores: state.scores};
  const blob = new Blob([JSON.stringify(document_, null, 1)], {type: "application/json"});
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = "scores-" + rater.replace(/[^A-Za-z0-9_-]+/g, "_") + ".json";
  document.body.appendChild(link);
  link.click();
  link.remove();
}

for (let value = 0; value <= config.maxScore; value++) {
  const button = document.createElement("button");
  button.textContent = value;
  button.dataset.score = value;
  button.addEventListener("click", () => score(value));
  $("scores").appendChild(button);
}
$("rater").value = state.rater;
$("rater").addEventListener("input", () => { state.rater = $("rater").value; save(); });
$("previous").addEventListener("click", () => go(state.position - 1));
$("next").addEventListener("click", () => go(state.position + 1));
$("next-unrated").addEventListener("click", nextUnrated);
$("export").addEventListener("click", exportScores);
document.addEventListener("keydown", (event) => {
  if (event.target === $("rater")) return;
  if (/^[0-9]$/.test(event.key)) score(Number(event.key));
  else if (event.key === "t") score(10);
  else if (event.key === "ArrowLeft") go(state.position - 1);
  else if (event.key === "ArrowRight") go(state.position + 1);
});
show();
</script>
</body>
</html>
"""
