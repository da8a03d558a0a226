"""AnimeGANv2 PyTorch state dicts (bryandlee/animegan2-pytorch's `.pt` files, e.g. its
face-portrait `face_paint_512_v2`) into the Keras AnimeGANv2 generator (`generator_v2.py`).

Every tensor of the state dict must land in exactly one Keras variable of the same shape (after
the layout change below), and every Keras variable must be filled: anything else is an error that
names the tensors or layers at fault, so a file of another architecture never converts silently.

Layouts: a PyTorch conv weight is (out, in, kh, kw), a Keras Conv2D kernel (kh, kw, in, out); a
depthwise weight (channels, 1, kh, kw) becomes a DepthwiseConv2D kernel (kh, kw, channels, 1);
GroupNorm weight/bias become GroupNormalization gamma/beta.
"""

import re

import numpy as np

# Keras layer name -> PyTorch module path (see generator_v2's docstring for the naming rule).
_RULES = (
    (re.compile(r"^(block_c)_(\d+)_(expand|dw)_(conv|norm)$"),
     lambda m: f"{m[1]}.{m[2]}.layers.{0 if m[3] == 'expand' else 1}.{1 if m[4] == 'conv' else 2}"),
    (re.compile(r"^(block_c)_(\d+)_project_(conv|norm)$"),
     lambda m: f"{m[1]}.{m[2]}.layers.{2 if m[3] == 'conv' else 3}"),
    (re.compile(r"^(block_[a-e])_(\d+)_(conv|norm)$"),
     lambda m: f"{m[1]}.{m[2]}.{1 if m[3] == 'conv' else 2}"),
    (re.compile(r"^out_layer_conv$"), lambda m: "out_layer.0"),
)


class ConversionError(ValueError):
    """The state dict does not fit the AnimeGANv2 generator; the message lists what differs."""


def torch_module_path(layer_name):
    """The PyTorch module path of a Keras layer of the v2 generator, or None (no weights)."""
    for pattern, path in _RULES:
        match = pattern.match(layer_name)
        if match:
            return path(match)
    return None


def _keras_values(layer, state_dict, prefix):
    """The layer's variables, in `layer.get_weights()` order, from the state dict."""
    import keras

    weight = state_dict[f"{prefix}.weight"]
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        values = [np.transpose(weight, (2, 3, 0, 1))]
    elif isinstance(layer, keras.layers.Conv2D):
        values = [np.transpose(weight, (2, 3, 1, 0))]
    elif isinstance(layer, keras.layers.GroupNormalization):
        values = [weight]
    else:
        raise ConversionError(f"layer {layer.name}: unexpected type {type(layer).__name__}")
    if len(layer.get_weights()) == 2:
        values.append(state_dict[f"{prefix}.bias"])
    return values


def load_state_dict(generator, state_dict):
    """Sets the Keras v2 `generator`'s weights from `state_dict` (name -> array). Returns the count
    of tensors copied. Raises ConversionError listing missing, unused or misshapen tensors."""
    state_dict = {name: np.asarray(value, np.float32) for name, value in state_dict.items()}
    used, problems, assignments = set(), [], []
    for layer in generator.layers:
        if not layer.get_weights():
            continue
        prefix = torch_module_path(layer.name)
        if prefix is None:
            problems.append(f"Keras layer {layer.name} has weights but no PyTorch counterpart")
            continue
        names = [f"{prefix}.weight"] + ([f"{prefix}.bias"] if len(layer.get_weights()) == 2 else [])
        missing = [name for name in names if name not in state_dict]
        if missing:
            problems.append(f"missing {', '.join(missing)} (for Keras layer {layer.name})")
            continue
        values = _keras_values(layer, state_dict, prefix)
        for name, value, variable in zip(names, values, layer.get_weights()):
            if value.shape != variable.shape:
                problems.append(f"{name}: shape {state_dict[name].shape} does not fit Keras layer "
                                f"{layer.name} {variable.shape}")
        used.update(names)
        assignments.append((layer, values))
    unused = sorted(set(state_dict) - used)
    if unused:
        problems.append(f"tensors the generator has no place for: {', '.join(unused[:8])}"
                        + (f" and {len(unused) - 8} more" if len(unused) > 8 else ""))
    if problems:
        raise ConversionError("not an AnimeGANv2 generator state dict: " + "; ".join(problems))
    for layer, values in assignments:
        layer.set_weights(values)
    return len(used)


def read_torch_state_dict(path):
    """The tensors of a PyTorch `.pt`/`.pth` state dict file as numpy arrays (needs torch)."""
    try:
        import torch
    except ImportError:
        raise ConversionError("reading a PyTorch file needs PyTorch: pip install torch "
                              "(the CPU build is enough)") from None
    try:
        loaded = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds (pickle, zip, runtime) for a bad file
        raise ConversionError(f"{path}: not a readable PyTorch file ({error})") from None
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(torch.is_tensor(v) for v in loaded.values()):
        raise ConversionError(f"{path}: not a state dict (a mapping of names to tensors)")
    return {name: value.detach().cpu().numpy() for name, value in loaded.items()}
