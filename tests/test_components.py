"""The compute precision of a run: bfloat16 on a CPU that only emulates it is named, not silent."""

import dataclasses

import keras
import pytest

from animegan_face.config import Config, TrainConfig
from animegan_face.training import components

_AVX2_ONLY = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu avx2\n"
_WITH_BF16 = "processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n"


@pytest.mark.parametrize("text, expected", [(_AVX2_ONLY, False), (_WITH_BF16, True),
                                            ("no flags line\n", None)])
def test_cpu_bfloat16_support_is_read_from_the_flags(tmp_path, text, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(text)
    assert components.cpu_has_native_bfloat16(str(cpuinfo)) is expected


def test_missing_cpuinfo_is_unknown(tmp_path):
    assert components.cpu_has_native_bfloat16(str(tmp_path / "absent")) is None


@pytest.mark.parametrize("native, warned", [(False, True), (True, False), (None, False)])
def test_bfloat16_on_an_emulating_cpu_warns_and_still_sets_the_policy(monkeypatch, capsys, native,
                                                                      warned):
    monkeypatch.setattr(components, "cpu_has_native_bfloat16", lambda: native)
    config = dataclasses.replace(Config(), train=TrainConfig(mixed_precision="bfloat16"))
    try:
        components.set_precision_policy(config)
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert ("AVX512_BF16" in capsys.readouterr().err) is warned


@pytest.mark.parametrize("native, gpu, policy", [(True, False, "mixed_bfloat16"),
                                                 (False, False, "float32"),
                                                 (False, True, "mixed_bfloat16")])
def test_auto_precision_follows_the_hardware_and_says_what_it_chose(monkeypatch, capsys, native,
                                                                    gpu, policy):
    monkeypatch.setattr(components, "cpu_has_native_bfloat16", lambda: native)
    monkeypatch.setattr(components, "has_gpu", lambda: gpu)
    config = dataclasses.replace(Config(), train=TrainConfig(mixed_precision="auto"))
    try:
        chosen = components.set_precision_policy(config)
        assert keras.mixed_precision.global_policy().name == policy
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert chosen == {"float32": "off", "mixed_bfloat16": "bfloat16"}[policy]
    assert f"--mixed_precision=auto: {policy}" in capsys.readouterr().err
    assert not isinstance(components.make_adam(1e-4, config), keras.optimizers.LossScaleOptimizer)
