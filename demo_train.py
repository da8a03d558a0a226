"""Training end to end in minutes: make a sample set, prepare it, train briefly, picture the result.

    python demo_train.py --output_dir=runs/train_demo      # or: make train-demo

Runs the real pipeline end to end with nothing downloaded: photos are crops of the shipped
public-domain face photo, anime faces are drawn procedurally, and the extractors use random
weights unless --extractor_weights / --face_extractor_weights name weights files (or 'imagenet'
where the machine has internet). It shows that everything works; it does not make a good model.
Writes OUTPUT_DIR/side_by_side.png (photos left, stylised right) and a full model_dir in
OUTPUT_DIR/run (open it with TensorBoard).
"""

import os
import pathlib
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

flags.DEFINE_string("output_dir", "runs/train_demo", "Where the sample set, the run and the PNG go.")
flags.DEFINE_integer("image_size", 128, "Training size.")
flags.DEFINE_integer("init_epochs", 3, "Warm-up epochs (the generator learns to reproduce photos).")
flags.DEFINE_integer("epochs", 3, "GAN epochs after the warm-up.")
flags.DEFINE_integer("steps_per_epoch", 10, "Steps per epoch.")
flags.DEFINE_string("extractor_weights", "none", "'none' (no download), 'imagenet' or a file.")
flags.DEFINE_string("face_extractor_weights", "none", "'none' (no download), 'imagenet' or a file.")
FLAGS = flags.FLAGS


def main(argv):
    logging.set_verbosity(logging.WARNING)  # TensorFlow's INFO lines would bury the progress bars
    del argv
    import numpy as np

    from animegan_face.config import Config, DataConfig, ModelConfig, TrainConfig
    from animegan_face.data.demo_data import write_demo_anime, write_demo_photos
    from animegan_face.data.image_files import side_by_side, write_image
    from animegan_face.data.pipeline import load_photo
    from animegan_face.training import train
    from animegan_face.training.loop import resolve_dataset
    from animegan_face.training.run_folder import RunFolder

    started = time.time()
    out = pathlib.Path(FLAGS.output_dir)
    write_demo_photos(out / "source" / "photo", count=12)
    write_demo_anime(out / "source" / "anime", count=12)
    config = Config(
        data=DataConfig(photo_dir=str(out / "source" / "photo"), anime_dir=str(out / "source" / "anime"),
                        dataset_dir=str(out / "dataset"), image_size=FLAGS.image_size, batch_size=4),
        model=ModelConfig(extractor_weights=FLAGS.extractor_weights,
                          face_extractor_weights=FLAGS.face_extractor_weights, face_crop_size=64),
        train=TrainConfig(model_dir=str(out / "run"), epochs=FLAGS.epochs, init_epochs=FLAGS.init_epochs,
                          steps_per_epoch=FLAGS.steps_per_epoch),
    )
    train(config, verbose=2)

    # Picture: the first four prepared photos beside their stylisation by the final generator.
    from animegan_face.models.networks import build_generator

    files = resolve_dataset(config)
    photos = np.stack([load_photo(files.photos[k], files.photo_boxes[k], FLAGS.image_size)[0]
                       for k in range(4)])
    generator = build_generator(config.model.generator, output_filter=config.model.output_filter)
    generator.load_weights(RunFolder(config.train.model_dir).generator_path)
    stylised = np.asarray(generator(photos, training=False))
    write_image(out / "side_by_side.png", side_by_side(photos, stylised))
    print(f"Wrote {out / 'side_by_side.png'} ({time.time() - started:.0f} s in all). "
          f"TensorBoard: tensorboard --logdir {out / 'run' / 'logs'}")


if __name__ == "__main__":
    app.run(main)
