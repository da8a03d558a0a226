"""How the loss terms compose: switched-off terms are not computed, and leave the others unchanged.

Stand-in networks record what they were called on, so a term that is still computed at weight 0
(the cost a "switched off" benchmark row would otherwise hide) fails here.
"""

import dataclasses

import numpy as np
import pytest

from animegan_face.config import LossConfig
from animegan_face.loss import augment, losses, objectives

BATCH, SIZE, CROP = 2, 16, 8


class Recorder:
    """A network stand-in: a fixed function of its input, counting the images it was given."""

    def __init__(self, fn):
        self.fn, self.images = fn, []

    def __call__(self, images):
        self.images.append(int(np.asarray(images).shape[0]))
        return self.fn(images)


def _terms(loss_config):
    rng = np.random.default_rng(0)
    photo, gray, fake = (rng.uniform(-1, 1, (BATCH, SIZE, SIZE, 3)).astype(np.float32)
                         for _ in range(3))
    target = np.clip(fake + 0.25, -1, 1)  # the pair term reads |fake - target|
    boxes = np.array([[0.2, 0.2, 0.8, 0.8], [0.1, 0.3, 0.7, 0.9]], np.float32)
    # The skin regions after each box (the crack term's mask): the oval is the box, none left out.
    boxes = np.concatenate([boxes, boxes, np.zeros((BATCH, 12), np.float32)], axis=1)
    nets = {
        "discriminate": Recorder(lambda x: x[..., :1] * 0.5),
        "extract": Recorder(lambda x: x[:, ::2, ::2, :] * 2.0),
        "extract_faces": Recorder(lambda x: x[:, ::4, ::4, :] - 0.1),
    }
    terms = objectives.generator_terms(photo, boxes, gray, fake, loss_config=loss_config,
                                       face_crop_size=CROP, photo_target=target, **nets)
    values = {name: float(np.asarray(value)) for name, value in terms.items()}
    total = float(np.asarray(objectives.weighted_generator_loss(terms, loss_config)))
    return values, total, {name: net.images for name, net in nets.items()}


CANDIDATES = ("surface", "distill", "region", "crack", "pair")


def test_all_terms_on_call_each_network_once():
    values, total, calls = _terms(LossConfig())
    assert set(values) == set(objectives.GENERATOR_TERMS)
    assert all(values[name] > 0 for name in values if name not in CANDIDATES), values
    assert all(values[name] == 0 for name in CANDIDATES)  # off by default
    # D on the fake batch; the extractor on photo+gray (no gradient), then on fake alone; faces on
    # both crops in one pass.
    assert calls == {"discriminate": [BATCH], "extract": [2 * BATCH, BATCH],
                     "extract_faces": [2 * BATCH]}
    weights = objectives.generator_weights(LossConfig())
    assert total == pytest.approx(sum(weights[n] * values[n] for n in values), rel=1e-5)


@pytest.mark.parametrize("off, expected_calls", [
    (("face",), {"discriminate": [BATCH], "extract": [2 * BATCH, BATCH], "extract_faces": []}),
    (("skin",), {"discriminate": [BATCH], "extract": [2 * BATCH, BATCH],
                 "extract_faces": [2 * BATCH]}),
    (("gra",), {"discriminate": [BATCH], "extract": [BATCH, BATCH], "extract_faces": [2 * BATCH]}),
    (("con",), {"discriminate": [BATCH], "extract": [BATCH, BATCH], "extract_faces": [2 * BATCH]}),
    (("con", "gra"), {"discriminate": [BATCH], "extract": [], "extract_faces": [2 * BATCH]}),
    (("adv",), {"discriminate": [], "extract": [2 * BATCH, BATCH], "extract_faces": [2 * BATCH]}),
])
def test_a_zero_weight_term_is_skipped_and_the_others_do_not_move(off, expected_calls):
    full, _, _ = _terms(LossConfig())
    config = dataclasses.replace(LossConfig(), **{name: 0.0 for name in off})
    values, total, calls = _terms(config)
    assert calls == expected_calls
    skipped = {"adv": "g_adv"}
    for name in objectives.GENERATOR_TERMS:
        if name in {skipped.get(o, o) for o in off}:
            assert values[name] == 0.0
        else:
            assert values[name] == pytest.approx(full[name], rel=1e-6), name
    weights = objectives.generator_weights(config)
    assert total == pytest.approx(sum(weights[n] * values[n] for n in values), rel=1e-5)


def test_all_weights_zero_gives_a_float_zero_total():
    config = LossConfig(adv=0, con=0, gra=0, col=0, skin=0, face=0)
    values, total, calls = _terms(config)
    assert total == 0.0 and all(v == 0.0 for v in values.values())
    assert calls == {"discriminate": [], "extract": [], "extract_faces": []}


def test_pair_term_reads_the_targets_and_needs_them():
    only_pair = LossConfig(adv=0, con=0, gra=0, col=0, skin=0, face=0, pair=4.0)
    values, total, calls = _terms(only_pair)
    rng = np.random.default_rng(0)
    _, _, fake = (rng.uniform(-1, 1, (BATCH, SIZE, SIZE, 3)).astype(np.float32) for _ in range(3))
    expected = np.mean(np.abs(fake - np.clip(fake + 0.25, -1, 1)))
    assert values["pair"] == pytest.approx(expected, rel=1e-6)
    assert total == pytest.approx(4.0 * expected, rel=1e-6)
    assert calls == {"discriminate": [], "extract": [], "extract_faces": []}  # no network needed
    with pytest.raises(ValueError, match="pseudo-pair"):
        objectives.generator_terms(fake, None, fake, fake, None, None, None, only_pair, CROP)


def test_content_source_pair_compares_features_with_the_targets_not_the_photo():
    """content_source=pair: the content term reads the target's features (one extractor pass,
    as with the photo), every other term is unchanged; it needs the targets like the pair term."""
    photo_config = LossConfig()
    pair_config = LossConfig(content_source="pair")
    from_photo, _, photo_calls = _terms(photo_config)
    from_pair, _, pair_calls = _terms(pair_config)
    assert pair_calls == photo_calls
    rng = np.random.default_rng(0)
    photo, _, fake = (rng.uniform(-1, 1, (BATCH, SIZE, SIZE, 3)).astype(np.float32)
                      for _ in range(3))
    target = np.clip(fake + 0.25, -1, 1)
    features = lambda x: x[:, ::2, ::2, :] * 2.0  # the Recorder's extractor
    from animegan_face.loss import losses
    expected = float(np.asarray(losses.content_loss(features(target), features(fake), "huber")))
    assert from_pair["con"] == pytest.approx(expected, rel=1e-6)
    assert from_pair["con"] != pytest.approx(from_photo["con"], rel=1e-3)
    for name in objectives.GENERATOR_TERMS:
        if name != "con":
            assert from_pair[name] == pytest.approx(from_photo[name], rel=1e-6), name
    assert pair_config.needs_pairs and not photo_config.needs_pairs
    assert not LossConfig(con=0, content_source="pair").needs_pairs
    with pytest.raises(ValueError, match="pseudo-pair"):
        objectives.generator_terms(fake, None, fake, fake, None, Recorder(features), None,
                                   LossConfig(adv=0, gra=0, col=0, skin=0, face=0,
                                              content_source="pair"), CROP)
    with pytest.raises(ValueError, match="content_source"):
        LossConfig(content_source="anime")


def test_flatness_candidates_add_their_terms_and_share_one_discriminator_pass():
    config = LossConfig(surface=1.0, distill=2.0, region=3.0, crack=5.0, pair=4.0)
    values, total, calls = _terms(config)
    assert all(values[name] > 0 for name in CANDIDATES), values
    # The surface view rides in the same D call as the plain fake batch.
    assert calls["discriminate"] == [2 * BATCH]
    weights = objectives.generator_weights(config)
    assert total == pytest.approx(sum(weights[n] * values[n] for n in values), rel=1e-5)
    # The thesis terms are not changed by switching the candidates on.
    plain, _, _ = _terms(LossConfig())
    for name in ("g_adv", "con", "gra", "col", "skin", "face"):
        assert values[name] == pytest.approx(plain[name], rel=1e-6)


def _d_terms(config, seed=0):
    rng = np.random.default_rng(1)
    anime, fake, gray, smooth = (rng.uniform(-1, 1, (BATCH, SIZE, SIZE, 3)).astype(np.float32)
                                 for _ in range(4))
    discriminate = Recorder(lambda x: x[..., :1] * 0.5 + 0.1)
    terms = objectives.discriminator_terms(anime, fake, gray, smooth, discriminate, config, seed)
    return {name: float(np.asarray(value)) for name, value in terms.items()}, discriminate.images


def test_discriminator_surface_term_adds_to_the_total_in_the_same_pass():
    plain, plain_calls = _d_terms(LossConfig())
    assert plain["d_surface"] == 0 and plain_calls == [4 * BATCH]
    assert plain["d_total"] == pytest.approx(300 * plain["d_adv"], rel=1e-6)
    with_surface, calls = _d_terms(LossConfig(surface=50.0))
    assert calls == [6 * BATCH]
    assert with_surface["d_adv"] == pytest.approx(plain["d_adv"], rel=1e-6)
    assert with_surface["d_surface"] > 0
    assert with_surface["d_total"] == pytest.approx(
        300 * with_surface["d_adv"] + 50 * with_surface["d_surface"], rel=1e-6)


def test_diffaugment_changes_what_d_sees_reproducibly_by_seed():
    config = LossConfig(diffaugment="color,translation,cutout")
    plain, _ = _d_terms(LossConfig())
    first, _ = _d_terms(config, seed=3)
    assert first["d_adv"] != pytest.approx(plain["d_adv"], rel=1e-3)
    assert _d_terms(config, seed=3)[0] == first
    assert _d_terms(config, seed=4)[0]["d_adv"] != pytest.approx(first["d_adv"], rel=1e-6)


def test_generator_input_is_the_photo_unless_grain_is_on():
    photo = np.random.default_rng(2).uniform(-0.5, 0.5, (BATCH, SIZE, SIZE, 3)).astype(np.float32)
    assert objectives.generator_input(photo, LossConfig(), 3) is photo
    grained = np.asarray(objectives.generator_input(photo, LossConfig(input_grain=0.05), 3))
    np.testing.assert_array_equal(grained, np.asarray(augment.grain(photo, 3, 0.05)))
    assert 0 < np.abs(grained - photo).mean() < 0.1
    with pytest.raises(ValueError, match="input_grain"):
        LossConfig(input_grain=-0.01)


def _terms_with(photo, boxes, gray, fake, **loss):
    """generator_terms' values (floats) with LossConfig(**loss) and stand-in networks."""
    nets = {"discriminate": lambda x: x[..., :1] * 0.5, "extract": lambda x: x[:, ::2, ::2, :],
            "extract_faces": lambda x: x[:, ::4, ::4, :]}
    terms = objectives.generator_terms(photo, boxes, gray, fake, loss_config=LossConfig(**loss),
                                       face_crop_size=CROP, **nets)
    return {name: float(np.asarray(value)) for name, value in terms.items()}


def test_skin_region_landmarks_reaches_the_skin_term_and_only_it():
    rng = np.random.default_rng(1)
    photo, gray, fake = (rng.uniform(-1, 1, (BATCH, SIZE, SIZE, 3)).astype(np.float32)
                         for _ in range(3))
    skin = [0.1, 0.1, 0.9, 0.9, 0.3, 0.2, 0.45, 0.8, 0.6, 0.35, 0.75, 0.65, 0, 0, 0, 0]
    boxes = np.array([[0.2, 0.2, 0.8, 0.8] + skin, [0.0] * 20], np.float32)
    values = {region: _terms_with(photo, boxes, gray, fake, skin_region=region)
              for region in ("box", "landmarks")}
    assert values["landmarks"]["skin"] == pytest.approx(float(np.asarray(
        losses.skin_color_loss(photo, fake, boxes, "huber", LossConfig().color_scale,
                                          "landmarks"))))
    assert values["landmarks"]["skin"] != pytest.approx(values["box"]["skin"])
    # The face term still reads the face box (the first 4 columns): unchanged.
    for name in ("face", "col", "con", "g_adv"):
        assert values["landmarks"][name] == values["box"][name]


def test_skin_statistic_reaches_the_skin_term_and_only_it():
    rng = np.random.default_rng(2)
    photo, gray, fake = (rng.uniform(-1, 1, (BATCH, SIZE, SIZE, 3)).astype(np.float32)
                         for _ in range(3))
    boxes = np.array([[0.2, 0.2, 0.8, 0.8], [0.0] * 4], np.float32)
    values = {statistic: _terms_with(photo, boxes, gray, fake, skin_statistic=statistic)
              for statistic in ("pixels", "mean")}
    assert values["mean"]["skin"] == pytest.approx(float(np.asarray(losses.skin_color_loss(
        photo, fake, boxes, "huber", LossConfig().color_scale, statistic="mean"))))
    # Uniform noise: the means nearly agree, the pixels do not.
    assert values["mean"]["skin"] < values["pixels"]["skin"] / 4
    for name in ("face", "col", "con", "g_adv"):
        assert values["mean"][name] == values["pixels"][name]


def test_crack_term_reads_the_skin_regions_of_the_boxes_and_refuses_boxes_without_them():
    only_crack = LossConfig(adv=0, con=0, gra=0, col=0, skin=0, face=0, crack=2.0)
    values, total, calls = _terms(only_crack)
    rng = np.random.default_rng(0)
    _, _, fake = (rng.uniform(-1, 1, (BATCH, SIZE, SIZE, 3)).astype(np.float32) for _ in range(3))
    boxes = np.array([[0.2, 0.2, 0.8, 0.8], [0.1, 0.3, 0.7, 0.9]], np.float32)
    regions = np.concatenate([boxes, boxes, np.zeros((BATCH, 12), np.float32)], axis=1)
    expected = float(np.asarray(losses.crack_loss(fake, regions)))
    assert values["crack"] == pytest.approx(expected, rel=1e-6) and expected > 0
    assert total == pytest.approx(2.0 * expected, rel=1e-6)
    assert calls == {"discriminate": [], "extract": [], "extract_faces": []}
    assert only_crack.needs_skin_regions and not LossConfig().needs_skin_regions
    with pytest.raises(ValueError, match="skin regions"):
        objectives.generator_terms(fake, boxes, fake, fake, None, None, None, only_crack, CROP)


def test_crack_size_sets_the_closing_window_so_wider_creases_count():
    boxes = np.array([[0.0, 0.0, 1.0, 1.0]] * BATCH, np.float32)
    regions = np.concatenate([boxes, [[-0.5, -0.5, 1.5, 1.5]] * BATCH,
                              np.zeros((BATCH, 12), np.float32)], axis=1).astype(np.float32)
    fake = np.full((BATCH, SIZE, SIZE, 3), 0.5, np.float32)
    fake[:, :, 5:11] = -0.5  # a 6 px dark crease: wider than 5 px, narrower than 9 px
    values = {}
    for size in (5, 9):
        config = LossConfig(adv=0, con=0, gra=0, col=0, skin=0, face=0, crack=1.0, crack_size=size)
        terms = objectives.generator_terms(fake, regions, fake, fake, None, None, None, config,
                                           CROP)
        values[size] = float(np.asarray(terms["crack"]))
        assert values[size] == pytest.approx(
            float(np.asarray(losses.crack_loss(fake, regions, size))), rel=1e-6)
    assert values[5] == 0.0  # the 5 px closing leaves the crease
    assert values[9] == pytest.approx(1.0 * 6 / SIZE, rel=1e-5)  # depth 1 on 6 of SIZE columns
    with pytest.raises(ValueError, match="crack_size"):
        LossConfig(crack_size=1)
