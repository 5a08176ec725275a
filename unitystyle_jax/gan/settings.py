"""What a GAN's programs are built from: the config.gan settings that shape them, and its image shape. Pure
(no files, no checkpoints), so the step and the trainers alike read it."""

# config.gan settings of the training loop, not of any program: runs that differ only in them (or in the seed)
# may share one GanPrograms (a run extended to more steps, or resumed in the other training mode).
GAN_LOOP_SETTINGS = (
    "num_steps",
    "cameras",
    "log_every",
    "checkpoint_every",
    "keep_checkpoints",
    "train_together",
    "model_devices",
)


def program_settings(gan_config) -> dict:
    """The config.gan settings that shape its programs: what a command's GanPrograms must have been built from."""
    return {k: v for k, v in gan_config.to_dict().items() if k not in GAN_LOOP_SETTINGS}


def gan_image_shape(gan_config) -> tuple[int, int, int]:
    return (gan_config.height, gan_config.width, 3)
