"""Face detection you can trust: precision, recall and time of each detector setting.

    python bench/face_detection.py                     # the labelled set of tests/face_labels.json
    python bench/face_detection.py --photo_dir=../shared/data/selfie2anime/photo \
        --holdout=checkpoints/selfie2anime_v2/holdout_photos.txt   # and the 200 held-out selfies
    python bench/face_detection.py --photo_dir=... --holdout=... --count=40 --turns=20,35,45 \
        --thresholds=        # and the first 40 selfies turned by 20, 35 and 45 degrees

Settings: dlib's HOG detector alone (what face mode used first), with a score threshold, with the
landmark model's presence check (``face_finder.find_faces(second_detector=False)``), BlazeFace
alone (``face_detector.detect``), and dlib plus BlazeFace's boxes that overlap none of dlib's
checked faces, all through the presence check (``face_finder.find_faces``, what face mode uses
now). A detection counts as true up to the number of faces an image holds (one per selfie) and
false beyond it. Prints one row per setting and set: images, faces, found, false, precision,
recall, ms per image.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from animegan_face.data import face_detector, face_finder, faces  # noqa: E402
from animegan_face.data.image_files import read_image  # noqa: E402
from bench import face_sets  # noqa: E402

flags.DEFINE_string("photo_dir", "", "Folder of the held-out selfies (optional).")
flags.DEFINE_string("holdout", "", "Their name list (holdout_photos.txt).")
flags.DEFINE_integer("upsample", 1, "dlib upsamplings, as stylize.py's --upsample.")
flags.DEFINE_integer("count", 0, "Use only the first this many held-out selfies (0: all).")
flags.DEFINE_list("turns", [], "Also the selfies turned by these angles (degrees, "
                  "counter-clockwise, on a canvas holding the whole photo), one set per angle.")
flags.DEFINE_list("thresholds", ["0.3", "0.5"], "dlib score thresholds to try.")
FLAGS = flags.FLAGS


def _settings(upsample, thresholds):
    settings = [("dlib HOG (first face mode)", lambda rgb: len(faces.detect_faces(rgb, upsample)))]
    for threshold in thresholds:
        settings.append((f"dlib HOG, score >= {threshold:g}", lambda rgb, t=threshold: sum(
            box.score >= t for box in faces.detect_faces(rgb, upsample))))
    settings.append(("dlib + landmark presence >= 0.5 (before)", lambda rgb: len(
        face_finder.find_faces(rgb, upsample, second_detector=False))))
    settings.append(("BlazeFace alone", lambda rgb: len(face_detector.detect(rgb))))
    settings.append(("dlib + BlazeFace + landmark presence >= 0.5 (now)", lambda rgb: len(
        face_finder.find_faces(rgb, upsample))))
    return settings


def _score(settings, images):
    """Per setting: (faces, found, false, precision, recall, ms per image, misses). The settings
    take turns on each image, so that the load of a shared machine weighs on all of them alike."""
    counts = {name: [] for name, _ in settings}
    seconds = {name: 0.0 for name, _ in settings}
    for _, rgb, _ in images:
        for name, setting in settings:
            started = time.perf_counter()
            counts[name].append(setting(rgb))
            seconds[name] += time.perf_counter() - started
    results = {}
    for name, _ in settings:
        found = false = faces_total = 0
        misses = []
        for (image_name, _, count), detected in zip(images, counts[name]):
            faces_total += count
            found += min(detected, count)
            false += max(0, detected - count)
            if detected != count:
                misses.append(f"{image_name}:{detected}")
        precision = found / (found + false) if found + false else 1.0
        recall = found / faces_total if faces_total else 1.0
        results[name] = (faces_total, found, false, precision, recall,
                         1000 * seconds[name] / len(images), misses)
    return results


def main(argv):
    del argv
    astronaut = read_image(face_sets.ASTRONAUT)
    sets = [("labelled", face_sets.labelled_images(astronaut))]
    if FLAGS.photo_dir:
        paths = face_sets.holdout_selfies(FLAGS.photo_dir, FLAGS.holdout)
        selfies = [(path.name, read_image(path), 1) for path in paths[:FLAGS.count or None]]
        sets.append(("selfies", selfies))
        for turn in FLAGS.turns:
            sets.append((f"selfies turned {float(turn):g} deg", [
                (name, face_sets.rotate_whole(rgb, float(turn)), 1) for name, rgb, _ in selfies]))
    settings = _settings(FLAGS.upsample, [float(t) for t in FLAGS.thresholds])
    face_finder.find_faces(astronaut)  # load the landmark and detector models before timing
    print(f"upsample={FLAGS.upsample}")
    print("| set | setting | images | faces | found | false | precision | recall | ms/image |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    wrong = []
    for set_name, images in sets:
        for setting_name, result in _score(settings, images).items():
            total, found, false, precision, recall, ms, misses = result
            print(f"| {set_name} | {setting_name} | {len(images)} | {total} | {found} | {false} "
                  f"| {precision:.3f} | {recall:.3f} | {ms:.0f} |", flush=True)
            wrong.append(f"{set_name} / {setting_name}: {' '.join(misses) or '-'}")
    print("\nimages with a wrong count (name:found):\n  " + "\n  ".join(wrong))


if __name__ == "__main__":
    app.run(main)
