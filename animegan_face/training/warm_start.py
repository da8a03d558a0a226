"""Starting a new run from a trained model's weights (`--init_from`) instead of its warm-up."""

import pathlib

from animegan_face.training.run_checks import SetupError


def warm_start(config, generator, discriminator, steps):
    """Loads config.train.init_from's generator.weights.h5 (and discriminator.weights.h5 where
    present) into a new run; returns the (epoch, step) counters it then starts from: the warm-up
    counts as done, since the generator is already trained. (0, 0) when init_from is empty.
    Raises SetupError naming the file that is missing or does not fit."""
    if not config.train.init_from:
        return 0, 0
    folder = pathlib.Path(config.train.init_from)
    for name, network, required in (("generator", generator, True),
                                    ("discriminator", discriminator, False)):
        path = folder / f"{name}.weights.h5"
        if not path.is_file():
            if required:
                raise SetupError(f"--init_from: no {path.name} in {folder}")
            print(f"--init_from: no {path.name} in {folder}: the discriminator starts anew")
            continue
        try:
            network.load_weights(path)
        except ValueError as error:
            raise SetupError(f"--init_from: {path} does not fit this run's {name} "
                             f"(--generator={config.model.generator}?): {error}") from None
    print(f"Starting from {folder}: warm-up skipped")
    return config.train.init_epochs, config.train.init_epochs * steps
