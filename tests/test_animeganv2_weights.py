"""The AnimeGANv2 converter: PyTorch state dicts into the Keras v2 generator, checked against the
PyTorch port itself (bench/animeganv2_torch.py, the published files' module layout)."""

import json
import os
import sys

import numpy as np
import pytest

from animegan_face.deployment import provenance
from animegan_face.models.animeganv2_weights import (
    ConversionError, load_state_dict, read_torch_state_dict, torch_module_path)
from animegan_face.deployment.inference import ModelLoadError, load_stylizer
from animegan_face.models.networks import build_generator
from tests.helpers import ScriptRuns

torch = pytest.importorskip("torch")  # a dev requirement: installed by `make test`

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
from animeganv2_torch import AnimeGANv2Generator  # noqa: E402


@pytest.fixture(scope="module")
def peer():
    """The PyTorch generator with random weights, norm scales and shifts included."""
    torch.manual_seed(0)
    model = AnimeGANv2Generator().eval()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 1:  # GroupNorm weight/bias, depthwise bias: not 1 and 0
                parameter.add_(0.2 * torch.randn_like(parameter))
    return model


def _state_dict(model):
    return {name: value.numpy().copy() for name, value in model.state_dict().items()}


def _torch_output(model, images):
    with torch.no_grad():
        return model(torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)


def test_every_tensor_converts_and_outputs_match_pytorch(peer, rng):
    generator = build_generator("animegan_v2")
    assert load_state_dict(generator, _state_dict(peer)) == len(peer.state_dict()) == 77
    assert generator.count_params() == sum(p.numel() for p in peer.parameters())
    for height, width in ((32, 32), (36, 44)):
        images = rng.uniform(-1, 1, (2, height, width, 3)).astype(np.float32)
        # float32 in both frameworks: 3.3e-6-4.8e-6 measured (oneDNN on, off). v2 normalises over
        # whole feature maps (one group), which amplifies rounding little; a weight converted into
        # the wrong place or without its transpose moves outputs by order 0.1-1.
        np.testing.assert_allclose(np.asarray(generator(images)), _torch_output(peer, images), atol=1e-4)


def test_module_paths_follow_the_published_keys():
    assert torch_module_path("block_a_0_conv") == "block_a.0.1"
    assert torch_module_path("block_e_2_norm") == "block_e.2.2"
    assert torch_module_path("block_c_1_expand_conv") == "block_c.1.layers.0.1"
    assert torch_module_path("block_c_4_dw_norm") == "block_c.4.layers.1.2"
    assert torch_module_path("block_c_2_project_norm") == "block_c.2.layers.3"
    assert torch_module_path("out_layer_conv") == "out_layer.0"
    assert torch_module_path("block_d_resize") is None


@pytest.mark.parametrize("change, message", [
    (lambda d: d.pop("block_c.2.layers.1.1.bias"), r"missing block_c\.2\.layers\.1\.1\.bias"),
    (lambda d: d.update({"block_f.0.1.weight": np.zeros(3)}), r"no place for: block_f\.0\.1\.weight"),
    (lambda d: d.update({"out_layer.0.weight": np.zeros((3, 64, 1, 1))}),
     r"out_layer\.0\.weight: shape \(3, 64, 1, 1\) does not fit Keras layer out_layer_conv"),
])
def test_a_state_dict_that_does_not_fit_is_refused_and_nothing_changes(peer, change, message):
    generator = build_generator("animegan_v2")
    before = [np.array(w) for w in generator.get_weights()]
    state_dict = _state_dict(peer)
    change(state_dict)
    with pytest.raises(ConversionError, match=message):
        load_state_dict(generator, state_dict)
    assert all(np.array_equal(b, a) for b, a in zip(before, generator.get_weights()))


def test_reading_pt_files(tmp_path, peer):
    path = tmp_path / "g.pt"
    torch.save(peer.state_dict(), path)
    read = read_torch_state_dict(path)
    assert set(read) == set(peer.state_dict())
    np.testing.assert_array_equal(read["block_a.0.1.weight"], peer.state_dict()["block_a.0.1.weight"].numpy())
    torch.save({"state_dict": peer.state_dict(), "epoch": 3}, tmp_path / "wrapped.pt")
    assert set(read_torch_state_dict(tmp_path / "wrapped.pt")) == set(read)
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ConversionError, match="list.pt: not a state dict"):
        read_torch_state_dict(tmp_path / "list.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a zip")
    with pytest.raises(ConversionError, match="junk.pt: not a readable PyTorch file"):
        read_torch_state_dict(tmp_path / "junk.pt")


@pytest.fixture
def run_convert():
    """`run_convert(*flags)`: convert_weights.py with `flags`, as its own command would run it;
    the test's two runs share one child process (`tests.helpers.ScriptRuns`), which imports
    TensorFlow and PyTorch once."""
    runs = ScriptRuns("convert_weights.py", REPO)
    yield runs
    runs.close()


def test_convert_weights_cli_writes_a_generator_stylize_and_export_can_use(tmp_path, peer, rng,
                                                                           run_convert):
    source = tmp_path / "face_paint.pt"
    torch.save(peer.state_dict(), source)
    output = tmp_path / "models" / "face_paint.weights.h5"
    done = run_convert(f"--torch_weights={source}", f"--output={output}")
    assert done.returncode == 0, done.stderr
    assert "77 tensors, 2,143,552 parameters" in done.stdout
    images = rng.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
    stylizer = load_stylizer(output)  # found to be v2 by its weights alone
    np.testing.assert_allclose(stylizer(images), _torch_output(peer, images), atol=1e-4)
    record = provenance.source_record(output)["converted_from"]
    assert record["sha256"] == provenance.sha256(source) and record["architecture"] == "animegan_v2"
    assert record["converted_to_sha256"] == provenance.sha256(output)

    v1_like = tmp_path / "v1.pt"
    torch.save({"b1_conv1.weight": torch.zeros(64, 3, 3, 3)}, v1_like)
    failed = run_convert(f"--torch_weights={v1_like}", f"--output={tmp_path / 'v1.weights.h5'}")
    assert failed.returncode == 1
    assert "v1.pt: not an AnimeGANv2 generator state dict: missing block_a.0.1.weight" in failed.stderr
    assert not (tmp_path / "v1.weights.h5").exists()


def test_weights_of_either_architecture_load_and_a_model_dir_names_its_own(tmp_path, rng):
    images = rng.uniform(-1, 1, (1, 32, 32, 3)).astype(np.float32)
    for architecture in ("animegan_v1", "animegan_v2"):
        generator = build_generator(architecture)
        generator.save_weights(tmp_path / f"{architecture}.weights.h5")
        loaded = load_stylizer(tmp_path / f"{architecture}.weights.h5")
        np.testing.assert_array_equal(loaded(images), np.asarray(generator(images)))
    run = tmp_path / "run"
    run.mkdir()
    (run / "generator.weights.h5").write_bytes((tmp_path / "animegan_v2.weights.h5").read_bytes())
    (run / "config.json").write_text(json.dumps({"model": {"generator": "animegan_v1"}}))
    with pytest.raises(ModelLoadError, match="weights do not fit the AnimeGAN generator .animegan_v1:"):
        load_stylizer(run)  # the run's config says v1: its v2 weights are refused, not guessed
    (run / "config.json").write_text(json.dumps({"model": {"generator": "animegan_v2"}}))
    assert load_stylizer(run)(images).shape == images.shape
