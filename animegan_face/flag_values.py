"""Parsing of flag values that the entry scripts share (the scripts turn ValueError into usage errors)."""


def named_paths(values, flag, path_word="PATH"):
    """{NAME: PATH} of repeated `--flag=NAME=PATH` values, in the order given.

    Raises ValueError naming the flag when a value is not NAME=PATH or a name repeats.
    """
    pairs = {}
    for value in values:
        name, separator, path = value.partition("=")
        if not separator or not name or not path:
            raise ValueError(f"--{flag} expects NAME={path_word}, got {value!r}")
        if name in pairs:
            raise ValueError(f"--{flag}: model name {name!r} given twice")
        pairs[name] = path
    return pairs
