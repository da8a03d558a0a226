"""Offline quality metrics of a stylisation: skin tone, structure, distance to the anime domain.

Every function takes uint8 ``H x W x 3`` RGB arrays (what ``image_files.read_image`` returns) and
needs numpy and OpenCV only (dlib for face detection, imported lazily by ``faces``); no TensorFlow
and no ImageNet weights. A photo and its stylisation must have the same size.

| metric | function | better | range |
| --- | --- | --- | --- |
| skin-tone fidelity | :func:`skin_delta_e` | lower | CIEDE2000 units, 0 (identical) .. ~100 |
| cracks on the skin | :func:`skin_cracks` | lower | grey levels, 0 (no thin dark mark) .. 255 |
| structure | :func:`ssim` (luma), :func:`edge_f1` (Canny edges) | higher | SSIM -1..1, F1 0..1 |
| anime domain | :func:`fit_domain_classifier` + :func:`anime_probability` | higher | P(anime) 0..1 |
"""

import dataclasses

import cv2
import numpy as np

from animegan_face.data import faces
from animegan_face.data import image_files

# Skin region inside the dlib HOG box, as fractions of the box (rows from its top, columns from its
# left). There is no landmark model to place eyes and mouth, so fixed proportions are used; they
# were read off dlib's box on assets/astronaut.jpg, where the brows and eyes lie in rows 0.05..0.33
# of the box and the (smiling) mouth in rows 0.62..0.84, columns 0.27..0.75. The box's outer
# columns often hold hair or background, so 10 % is dropped on each side.
SKIN_COLUMNS = (0.10, 0.90)
EYE_BAND_ROWS = (0.05, 0.36)
MOUTH_ROWS, MOUTH_COLUMNS = (0.60, 0.88), (0.22, 0.78)

# SSIM constants of Wang et al. 2004: K1 = 0.01, K2 = 0.03, dynamic range L = 255.
_SSIM_C1, _SSIM_C2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
_SSIM_WINDOW, _SSIM_SIGMA = 11, 1.5

# Canny thresholds of the dataset's edge smoothing (preparation.edge_smooth), and the tolerance
# in pixels within which an output edge counts as the same edge as a photo edge.
_CANNY_LOW, _CANNY_HIGH = 100, 200
EDGE_TOLERANCE = 2

# sRGB (IEC 61966-2-1) primaries to CIE XYZ, and the D65 reference white (Y = 1).
_SRGB_TO_XYZ = np.array([
    [0.4124564, 0.3575761, 0.1804375],
    [0.2126729, 0.7151522, 0.0721750],
    [0.0193339, 0.1191920, 0.9503041],
])
_D65_WHITE = np.array([0.95047, 1.0, 1.08883])

# Side the domain features are computed at, so that statistics of differently sized images agree.
FEATURE_SIZE = 256
_QUANT_LEVELS = 16  # per channel, for the colour-count features (4096 colours)


# ----------------------------------------------------------------------------- colour difference

def srgb_to_lab(rgb):
    """uint8 (or 0..255 float) sRGB ``(..., 3)`` -> CIELAB ``(..., 3)`` float64, D65 white.

    sRGB decoding ``c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4`` on c = v / 255, the
    sRGB matrix to XYZ, then ``L = 116 f(Y) - 16``, ``a = 500 (f(X) - f(Y))``, ``b = 200 (f(Y) - f(Z))``
    with ``f(t) = t ** (1/3)`` above (6/29)^3, linear below. L in 0..100, a and b about -128..128.
    """
    unit = np.asarray(rgb, np.float64) / 255.0
    linear = np.where(unit <= 0.04045, unit / 12.92, ((unit + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _SRGB_TO_XYZ.T / _D65_WHITE
    delta = 6.0 / 29.0
    f = np.where(xyz > delta ** 3, np.cbrt(xyz), xyz / (3 * delta ** 2) + 4.0 / 29.0)
    return np.stack([116.0 * f[..., 1] - 16.0,
                     500.0 * (f[..., 0] - f[..., 1]),
                     200.0 * (f[..., 1] - f[..., 2])], axis=-1)


def ciede2000(lab1, lab2):
    """CIEDE2000 colour difference (Sharma, Wu and Dalal 2005, eqs. 1-22), kL = kC = kH = 1.

    ``lab1`` and ``lab2`` are CIELAB arrays ``(..., 3)`` of the same shape; returns ``(...)``
    float64 >= 0, symmetric, 0 for identical colours; about 1 is a just noticeable difference,
    about 100 separates black from white. Hue angles in degrees as in the paper; where a product
    of chromas is 0 the mean hue is the sum and the hue difference 0 (the paper's convention).
    """
    lab1, lab2 = np.asarray(lab1, np.float64), np.asarray(lab2, np.float64)
    l1, a1, b1 = np.moveaxis(lab1, -1, 0)
    l2, a2, b2 = np.moveaxis(lab2, -1, 0)
    # a' stretches a so that near-neutral colours get the right hue weight.
    c_mean = (np.hypot(a1, b1) + np.hypot(a2, b2)) / 2
    g = 0.5 * (1 - np.sqrt(c_mean ** 7 / (c_mean ** 7 + 25.0 ** 7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    chroma_product = c1p * c2p

    delta_lp = l2 - l1
    delta_cp = c2p - c1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dh = np.where(chroma_product == 0, 0.0, dh)
    delta_hp = 2 * np.sqrt(chroma_product) * np.sin(np.radians(dh / 2))

    lp_mean = (l1 + l2) / 2
    cp_mean = (c1p + c2p) / 2
    h_sum = h1p + h2p
    hp_mean = np.where(np.abs(h1p - h2p) <= 180, h_sum / 2,
                       np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2))
    hp_mean = np.where(chroma_product == 0, h_sum, hp_mean)

    t = (1 - 0.17 * np.cos(np.radians(hp_mean - 30)) + 0.24 * np.cos(np.radians(2 * hp_mean))
         + 0.32 * np.cos(np.radians(3 * hp_mean + 6)) - 0.20 * np.cos(np.radians(4 * hp_mean - 63)))
    delta_theta = 30 * np.exp(-(((hp_mean - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(cp_mean ** 7 / (cp_mean ** 7 + 25.0 ** 7))
    s_l = 1 + 0.015 * (lp_mean - 50) ** 2 / np.sqrt(20 + (lp_mean - 50) ** 2)
    s_c = 1 + 0.045 * cp_mean
    s_h = 1 + 0.015 * cp_mean * t
    r_t = -np.sin(np.radians(2 * delta_theta)) * r_c
    terms_l, terms_c, terms_h = delta_lp / s_l, delta_cp / s_c, delta_hp / s_h
    return np.sqrt(terms_l ** 2 + terms_c ** 2 + terms_h ** 2 + r_t * terms_c * terms_h)


# ----------------------------------------------------------------------------- skin tone

def skin_mask(height, width, box):
    """Boolean ``height x width`` mask of the skin region of a face box (see SKIN_COLUMNS etc.).

    The box's pixels ``[top:bottom, left:right]``, columns narrowed to SKIN_COLUMNS, minus the eye
    band (all columns of EYE_BAND_ROWS) and the mouth rectangle (MOUTH_ROWS x MOUTH_COLUMNS).
    """
    mask = np.zeros((height, width), bool)

    def rows(fractions):
        return slice(box.top + round(fractions[0] * box.height),
                     box.top + round(fractions[1] * box.height))

    def columns(fractions):
        return slice(box.left + round(fractions[0] * box.width),
                     box.left + round(fractions[1] * box.width))

    mask[box.top:box.bottom, columns(SKIN_COLUMNS)] = True
    mask[rows(EYE_BAND_ROWS), box.left:box.right] = False
    mask[rows(MOUTH_ROWS), columns(MOUTH_COLUMNS)] = False
    return mask


def detect_face_box(photo, upsample=1):
    """The best dlib HOG face box of a uint8 RGB photo, or None when no face is found."""
    boxes = faces.detect_faces(photo, upsample=upsample)
    return boxes[0] if boxes else None


def skin_delta_e(photo, output, box):
    """Mean CIEDE2000 between ``photo`` and ``output`` over ``skin_mask`` of ``box``.

    0 when the skin keeps its colour exactly; 1..2 is hard to see, > 10 is a different tone
    (a baseline AnimeGAN "pure white skin" is far above that). Lower is better.
    """
    photo, output = _same_size(photo, output)
    mask = skin_mask(photo.shape[0], photo.shape[1], box)
    if not mask.any():
        raise ValueError(f"face box {box} leaves no skin pixel")
    return float(ciede2000(srgb_to_lab(photo[mask]), srgb_to_lab(output[mask])).mean())


# Window of the closing that finds cracks: dark marks narrower than this many pixels at 256 px.
CRACK_WINDOW = 5


def skin_cracks(output, box):
    """Mean depth, in grey levels of luma, of the thin dark marks on the skin of ``output``: what a
    CRACK_WINDOW px grey-level morphological closing fills, over ``skin_mask`` of ``box``.

    A closing fills every dark feature narrower than its window (crack-like lines, pores,
    freckles, noise) and leaves wider shapes and steps between flat regions, so flat anime skin
    reads about 0 and a photo's textured skin a few levels. The training-side counterpart is
    ``losses.crack_loss`` (on the landmarks' skin ellipse, all channels); this one uses the
    detector's box like ``skin_delta_e``, so the two masks differ.
    """
    output = np.asarray(output)
    mask = skin_mask(output.shape[0], output.shape[1], box)
    if not mask.any():
        raise ValueError(f"face box {box} leaves no skin pixel")
    grey = luma(output).astype(np.float32)
    window = np.ones((CRACK_WINDOW, CRACK_WINDOW), np.uint8)
    closed = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, window)
    return float((closed - grey)[mask].mean())


# ----------------------------------------------------------------------------- structure

def luma(rgb):
    """BT.601 luma ``0.299 R + 0.587 G + 0.114 B`` as float64 in 0..255."""
    return np.asarray(rgb, np.float64) @ np.array([0.299, 0.587, 0.114])


def ssim_map(photo, output):
    """Local SSIM of the lumas (Wang, Bovik, Sheikh and Simoncelli 2004, eq. 13).

    ``SSIM = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))`` with
    means, variances and covariance taken under an 11 x 11 Gaussian window (sigma 1.5, weights
    summing to 1), C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2. Like the paper's reference code, only
    windows lying wholly inside the image are kept: the map is (H - 10) x (W - 10). Values in -1..1.
    """
    photo, output = _same_size(photo, output)
    if min(photo.shape[:2]) < _SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {_SSIM_WINDOW} px, got {photo.shape[:2]}")
    x, y = luma(photo), luma(output)

    def window_mean(values):
        return cv2.GaussianBlur(values, (_SSIM_WINDOW, _SSIM_WINDOW), _SSIM_SIGMA,
                                borderType=cv2.BORDER_REFLECT)

    mu_x, mu_y = window_mean(x), window_mean(y)
    var_x = window_mean(x * x) - mu_x ** 2
    var_y = window_mean(y * y) - mu_y ** 2
    cov = window_mean(x * y) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + _SSIM_C1) * (2 * cov + _SSIM_C2)
    denominator = (mu_x ** 2 + mu_y ** 2 + _SSIM_C1) * (var_x + var_y + _SSIM_C2)
    half = _SSIM_WINDOW // 2
    return (numerator / denominator)[half:-half, half:-half]


def ssim(photo, output):
    """Mean of :func:`ssim_map`: 1 for identical images, about 0 for unrelated ones. Higher is better."""
    return float(ssim_map(photo, output).mean())


def edges(rgb):
    """Canny edges (thresholds 100, 200, as the dataset's edge smoothing) of the luma, as bool."""
    gray = np.clip(np.rint(luma(rgb)), 0, 255).astype(np.uint8)
    return cv2.Canny(gray, _CANNY_LOW, _CANNY_HIGH) > 0


def edge_f1(photo, output, tolerance=EDGE_TOLERANCE):
    """F1 of the output's edges against the photo's, each matched within ``tolerance`` pixels.

    precision = share of output edge pixels within ``tolerance`` (a (2t+1)^2 square) of a photo
    edge; recall = share of photo edge pixels within ``tolerance`` of an output edge;
    F1 = 2 P R / (P + R). 1 when the edges coincide (or neither image has any), 0 when none matches.
    Stylisation adds outlines and drops texture, so real values sit well below 1. Higher is better.
    """
    photo, output = _same_size(photo, output)
    photo_edges, output_edges = edges(photo), edges(output)
    if not photo_edges.any() and not output_edges.any():
        return 1.0
    kernel = np.ones((2 * tolerance + 1, 2 * tolerance + 1), np.uint8)
    near_photo = cv2.dilate(photo_edges.astype(np.uint8), kernel) > 0
    near_output = cv2.dilate(output_edges.astype(np.uint8), kernel) > 0
    precision = (output_edges & near_photo).sum() / max(1, output_edges.sum())
    recall = (photo_edges & near_output).sum() / max(1, photo_edges.sum())
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


# ----------------------------------------------------------------------------- anime domain

DOMAIN_FEATURE_NAMES = (
    "top16_colour_coverage", "colour_entropy", "flat_fraction", "edge_density",
    "gradient_0_4", "gradient_4_16", "gradient_16_64", "gradient_64_up",
    "dark_fraction", "saturation_mean", "saturation_std", "saturation_high",
)


def domain_features(rgb):
    """Hand-made colour and texture statistics of one image, in DOMAIN_FEATURE_NAMES order.

    Computed on the image resized to FEATURE_SIZE (INTER_AREA), colours quantised to 16 levels per
    channel (4096 bins): share of pixels in the 16 most frequent colours, entropy of the colour
    histogram / log(4096), share of pixels whose 3 x 3 neighbourhood has one quantised colour (flat
    cel areas), share of Canny edge pixels, shares of pixels whose Sobel gradient magnitude of the
    luma falls in [0, 4), [4, 16), [16, 64), [64, inf) (cel shading is bimodal: flat or a line; photos
    and blur live in between), share of dark pixels (luma < 40: outlines), and the HSV saturation's
    mean, standard deviation and share above 0.5. Every feature lies in 0..1.
    """
    rgb = image_files.resize_square(np.asarray(rgb, np.uint8), FEATURE_SIZE)
    quantised = rgb // (256 // _QUANT_LEVELS)
    codes = ((quantised[..., 0].astype(np.int32) * _QUANT_LEVELS + quantised[..., 1])
             * _QUANT_LEVELS + quantised[..., 2])
    counts = np.bincount(codes.ravel(), minlength=_QUANT_LEVELS ** 3)
    shares = counts / codes.size
    nonzero = shares[shares > 0]
    entropy = float(-(nonzero * np.log(nonzero)).sum() / np.log(shares.size))
    same = ((cv2.dilate(codes.astype(np.float32), np.ones((3, 3))) ==
             cv2.erode(codes.astype(np.float32), np.ones((3, 3)))))
    gray = luma(rgb)
    gradient = np.hypot(cv2.Sobel(gray, cv2.CV_64F, 1, 0), cv2.Sobel(gray, cv2.CV_64F, 0, 1)) / 4
    gradient_bins = np.histogram(gradient, bins=[0, 4, 16, 64, np.inf])[0] / gradient.size
    saturation = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 1] / 255.0
    return np.array([
        np.sort(shares)[-16:].sum(), entropy, same.mean(), edges(rgb).mean(),
        *gradient_bins, (gray < 40).mean(),
        saturation.mean(), saturation.std(), (saturation > 0.5).mean(),
    ])


@dataclasses.dataclass(frozen=True)
class DomainClassifier:
    """Logistic regression on standardised :func:`domain_features`: P(anime) = sigmoid(z . coef + intercept).

    ``z = (features - feature_mean) / feature_scale``. Made by :func:`fit_domain_classifier`.
    """

    feature_mean: np.ndarray
    feature_scale: np.ndarray
    coef: np.ndarray
    intercept: float
    training_accuracy: float


def photo_domain_negatives(photos):
    """The photo class the classifier learns: each photo, plus a Gaussian-blurred copy of it.

    Removing detail alone makes a photo flat and smooth, which a texture statistic could mistake
    for cel shading; the blurred copies (sigma 2.5 at FEATURE_SIZE) teach the classifier that a
    blurred photo is still a photo, so that a generator cannot score by blurring.
    """
    negatives = []
    for photo in photos:
        photo = image_files.resize_square(np.asarray(photo, np.uint8), FEATURE_SIZE)
        negatives += [photo, cv2.GaussianBlur(photo, (0, 0), 2.5)]
    return negatives


def fit_domain_classifier(anime_images, photos, l2=0.1, iterations=30):
    """Trains the anime-vs-photo classifier on the fly (no pretrained weights).

    Positives: ``anime_images``; negatives: :func:`photo_domain_negatives` of ``photos``. Both
    classes weigh the same whatever their sizes. Minimises the class-balanced mean log loss plus
    ``l2 / 2 * |coef|^2`` by Newton's method (convex, so the result does not depend on a seed);
    the L2 term keeps the weights finite when the classes separate perfectly.
    """
    positives = np.stack([domain_features(image) for image in anime_images])
    negatives = np.stack([domain_features(image) for image in photo_domain_negatives(photos)])
    if len(positives) < 2 or len(negatives) < 2:
        raise ValueError("the anime-domain classifier needs at least 2 anime images and 1 photo")
    features = np.concatenate([positives, negatives])
    labels = np.concatenate([np.ones(len(positives)), np.zeros(len(negatives))])
    sample_weight = np.where(labels == 1, 0.5 / len(positives), 0.5 / len(negatives))
    mean, scale = features.mean(axis=0), features.std(axis=0)
    scale = np.where(scale > 1e-8, scale, 1.0)  # a constant feature carries no information
    design = np.hstack([(features - mean) / scale, np.ones((len(features), 1))])
    theta = _newton_logistic(design, labels, sample_weight, l2, iterations)
    accuracy = float(((design @ theta > 0) == (labels == 1)).mean())
    return DomainClassifier(mean, scale, theta[:-1], float(theta[-1]), accuracy)


def anime_probability(classifier, images):
    """P(anime) of each image under ``classifier``, float64 ``(N,)`` in 0..1. Higher = more anime."""
    features = np.stack([domain_features(image) for image in images])
    z = (features - classifier.feature_mean) / classifier.feature_scale
    return _sigmoid(z @ classifier.coef + classifier.intercept)


def _newton_logistic(design, labels, sample_weight, l2, iterations):
    theta = np.zeros(design.shape[1])
    penalty = np.full(design.shape[1], l2)
    penalty[-1] = 0.0  # the intercept is not shrunk
    for _ in range(iterations):
        p = _sigmoid(design @ theta)
        gradient = design.T @ (sample_weight * (p - labels)) + penalty * theta
        hessian = (design.T * (sample_weight * p * (1 - p))) @ design + np.diag(penalty)
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(theta)), gradient)
        theta -= step
        if np.abs(step).max() < 1e-10:
            break
    return theta


def _sigmoid(x):
    return 0.5 * (1 + np.tanh(0.5 * x))  # overflow-free form of 1 / (1 + exp(-x))


# ----------------------------------------------------------------------------- all together

METRIC_COLUMNS = (
    ("skin_delta_e", "skin ΔE00 ↓"), ("ssim", "SSIM ↑"), ("edge_f1", "edge F1 ↑"),
    ("anime_probability", "P(anime) ↑"), ("skin_cracks", "skin cracks ↓"),
)


def evaluate_pairs(photos, outputs, anime_images, classifier=None, face_boxes=None):
    """Every metric of one model: ``outputs[k]`` is the stylisation of ``photos[k]``.

    Args:
        photos, outputs: lists of uint8 RGB arrays, pairwise of the same size.
        anime_images: the anime set, to train the domain classifier (unused when ``classifier``
            is given, e.g. to compare several models with the same classifier).
        face_boxes: one FaceBox or None per photo; detected (dlib HOG, upsample 1) when omitted.

    Returns:
        dict with ``images``, ``faces`` (photos with a face), ``no_face`` (skipped by the skin
        metrics), and the means ``skin_delta_e`` and ``skin_cracks`` (None without any face),
        ``ssim``, ``edge_f1``, ``anime_probability``.
    """
    if len(photos) != len(outputs) or not photos:
        raise ValueError(f"need matching non-empty lists, got {len(photos)} photos, {len(outputs)} outputs")
    if classifier is None:
        classifier = fit_domain_classifier(anime_images, photos)
    if face_boxes is None:
        face_boxes = [detect_face_box(photo) for photo in photos]
    with_face = [(photo, output, box)
                 for photo, output, box in zip(photos, outputs, face_boxes) if box is not None]
    skin = [skin_delta_e(photo, output, box) for photo, output, box in with_face]
    cracks = [skin_cracks(output, box) for _, output, box in with_face]
    return {
        "images": len(photos),
        "faces": len(skin),
        "no_face": len(photos) - len(skin),
        "skin_delta_e": float(np.mean(skin)) if skin else None,
        "skin_cracks": float(np.mean(cracks)) if cracks else None,
        "ssim": float(np.mean([ssim(p, o) for p, o in zip(photos, outputs)])),
        "edge_f1": float(np.mean([edge_f1(p, o) for p, o in zip(photos, outputs)])),
        "anime_probability": float(np.mean(anime_probability(classifier, outputs))),
    }


BASELINE_BLUR_SIGMA = 1.5


def baseline_outputs(photos):
    """Reference rows that show the scale of each metric: the photo itself, and a blurred copy.

    The identity copy is perfect on skin and structure and must score low on the anime domain; the
    blur (Gaussian, sigma BASELINE_BLUR_SIGMA px) removes detail without stylising. A model worth
    having beats both on P(anime) while staying closer than the blur on skin and structure.
    """
    blurred = [cv2.GaussianBlur(photo, (0, 0), BASELINE_BLUR_SIGMA) for photo in photos]
    return {"photo (identity)": list(photos), f"photo blurred (sigma {BASELINE_BLUR_SIGMA})": blurred}


def evaluate_models(photos, outputs_by_model, anime_images, baselines=True):
    """:func:`evaluate_pairs` of several models with one classifier and one face detection.

    Returns ``{name: result}`` in the order given, after the baseline rows when ``baselines``.
    """
    classifier = fit_domain_classifier(anime_images, photos)
    face_boxes = [detect_face_box(photo) for photo in photos]
    rows = dict(baseline_outputs(photos)) if baselines else {}
    rows.update(outputs_by_model)
    return {name: evaluate_pairs(photos, outputs, None, classifier, face_boxes)
            for name, outputs in rows.items()}


def markdown_table(results):
    """A Markdown table of several models: ``results`` maps model name -> evaluate_pairs() dict,
    with a KID column (mean ± standard deviation over subsets) when the rows carry "kid"."""
    with_kid = all("kid" in result for result in results.values())
    header = ["model", "images", "faces"] + [title for _, title in METRIC_COLUMNS]
    header += ["KID ↓"] if with_kid else []
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name, result in results.items():
        cells = [name, str(result["images"]), str(result["faces"])]
        cells += ["n/a" if result[key] is None else f"{result[key]:.3f}" for key, _ in METRIC_COLUMNS]
        cells += [f"{result['kid']:.4g} ± {result['kid_std']:.2g}"] if with_kid else []
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- folders

def load_folder(folder, size, limit=0, only=None):
    """The images of ``folder`` (sorted by name), centre-cropped and resized to ``size`` squares.

    ``only``: file names to take (e.g. a held-out list); FileNotFoundError names any that is absent.

    Returns:
        ``(names, images, skipped)``: file names and uint8 RGB arrays of the readable images (the
        first ``limit`` of them when ``limit`` > 0) and ``[(path, reason)]`` of unreadable ones.
    """
    names, images, skipped = [], [], []
    paths = image_files.list_images(folder)
    if only is not None:
        wanted = set(only)
        missing = sorted(wanted - {path.name for path in paths})
        if missing:
            raise FileNotFoundError(f"{folder}: {len(missing)} listed image(s) not found: "
                                    + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
        paths = [path for path in paths if path.name in wanted]
    for path in paths:
        if limit and len(images) == limit:
            break
        try:
            rgb = image_files.read_image(path)
        except image_files.ImageReadError as error:
            skipped.append((str(path), error.reason))
            continue
        names.append(path.name)
        images.append(image_files.center_crop_resize(rgb, size)[0])
    return names, images, skipped


def load_matching(folder, names, size):
    """The image of ``folder`` with the same stem as each of ``names`` (any image extension).

    Each is brought to ``size x size`` the same way as the photos. Raises FileNotFoundError naming
    the photos that have no output, so that a partial output folder cannot pass unnoticed.
    """
    by_stem = {path.stem: path for path in image_files.list_images(folder)}
    stems = [name.rsplit(".", 1)[0] for name in names]
    missing = [name for name, stem in zip(names, stems) if stem not in by_stem]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise FileNotFoundError(f"{folder}: no output for {len(missing)} photo(s): {shown}")
    return [image_files.center_crop_resize(image_files.read_image(by_stem[stem]), size)[0]
            for stem in stems]


def _same_size(photo, output):
    photo, output = np.asarray(photo), np.asarray(output)
    if photo.shape != output.shape:
        raise ValueError(f"photo {photo.shape} and output {output.shape} differ in size")
    return photo, output



