"""IDE re-ID training: ResNet + two-FC head, trained on N real images per batch plus the method's second part.

Each method's second part and its label smoothing are in `methods.METHODS`.
The step and its loss live in `reid.step`; this module runs it on the data: programs built once per config,
checkpoints, the loop, and each method's second part.
"""

import dataclasses
import functools
import logging
import time

import jax
import ml_collections
import numpy as np
import optax

from unitystyle_jax.core.errors import ConversionError
from unitystyle_jax import config_validation, methods, startup
from unitystyle_jax.core import parallel, stage_times, training_loop
from unitystyle_jax.core.model_run import ModelRun
from unitystyle_jax.data import pipeline
from unitystyle_jax.models.factory import create_ide
from unitystyle_jax.models.ide import IDE
from unitystyle_jax.models.ide import BACKBONE
from unitystyle_jax.reid.feature_model import model_fingerprint, reid_checkpoints
from unitystyle_jax.reid.step import create_optimizer, initial_state, train_step


@dataclasses.dataclass(frozen=True)
class ReidPrograms:
    """One IDE config's model and optimizer, and its jit'd init and train step (the seed is a step argument),
    built once by the command and handed to every run of that config: a comparison's seeds trace and load each
    program once."""

    settings: tuple  # `program_settings` of the config and class count they were built for
    model: IDE
    tx: optax.GradientTransformation
    schedule: optax.Schedule
    train: training_loop.TrainPrograms
    state_sharding: jax.sharding.NamedSharding  # replicated on the mesh the programs run on

    @classmethod
    def build(cls, config, num_classes: int, mesh) -> "ReidPrograms":
        model = create_ide(config.model, num_classes)
        tx, schedule = create_optimizer(config.reid)
        step = functools.partial(
            train_step,
            model=model,
            tx=tx,
            schedule=schedule,
            smoothing=methods.of(config.reid).second_part_smoothing(config.reid),
            normalization=config.reid.loss_normalization,
        )
        init = functools.partial(initial_state, model, tx, (config.data.height, config.data.width, 3))
        train = training_loop.train_programs(init, step, mesh, step_args=1)
        settings = program_settings(config, num_classes)
        return cls(settings, model, tx, schedule, train, parallel.replicated(mesh))


# config.reid settings that shape the loop, the data or the method's name, not the programs: the method acts on
# the step only through its second part's label smoothing (and a batch's shape, which retraces the same program).
REID_LOOP_SETTINGS = (
    "method",
    "generated_label_smoothing",
    "unitystyle_label_smoothing",
    "num_steps",
    "log_every",
    "checkpoint_every",
    "keep_checkpoints",
)


def program_settings(config, num_classes: int) -> tuple:
    """What shapes an IDE's programs: the model, the re-ID settings of the step and optimizer, the image size and
    the class count (not the seed, which is a step argument). Rows of a comparison that differ only in their data
    (baseline and colour_norm; real_twin and unitystyle) share one program."""
    reid = {k: v for k, v in config.reid.to_dict().items() if k not in REID_LOOP_SETTINGS}
    return (
        config.model.to_dict(),
        {**reid, "second_part_smoothing": methods.of(config.reid).second_part_smoothing(config.reid)},
        (config.data.height, config.data.width),
        num_classes,
    )


class ReidRun(ModelRun):
    """Programs, shardings and checkpoint folder of one IDE run: what training and its start-up checks share."""

    def __init__(self, config: ml_collections.ConfigDict, workdir: str, programs: ReidPrograms):
        num_classes = programs.settings[-1]
        if programs.settings != program_settings(config, num_classes):
            raise ValueError(f"IDE programs built for another config than the run in {workdir}")
        self.config, self.programs = config, programs
        meta = {
            "num_classes": num_classes,
            "model": model_fingerprint(config.model),
            "method": config.reid.method,
            "dataset": config.data.name,
            "data_root": startup.data_root(config, workdir),
        }
        match = {k: meta[k] for k in ("num_classes", "model")}
        super().__init__(
            programs.train,
            parallel.init_key(config.seed),
            reid_checkpoints(workdir, config.reid.keep_checkpoints),
            meta,
            match,
        )

    def fresh_state(self):
        state = self.programs.train.init(self.rng)
        folder = config_validation.pretrained_folder(self.config)
        if folder:
            state = self._with_pretrained_backbone(state, folder)
        return state

    def _with_pretrained_backbone(self, state, folder: str):
        from unitystyle_jax.reid import pretrained  # torch-free; imported lazily to keep start-up light

        variables = pretrained.read_backbone_variables(folder)
        updated = {}
        for collection in ("params", "batch_stats"):
            expected = jax.tree.map(lambda a: (a.shape, a.dtype), getattr(state, collection)[BACKBONE])
            found = jax.tree.map(lambda a: (a.shape, a.dtype), variables[collection])
            if expected != found:
                raise ConversionError(
                    f"pretrained weights in {folder} do not fit model {model_fingerprint(self.config.model)}"
                )
            updated[collection] = {
                **getattr(state, collection),
                BACKBONE: jax.device_put(variables[collection], self.programs.state_sharding),
            }
        state = state.replace(**updated)
        state = state.replace(
            opt_state=jax.jit(self.programs.tx.init, out_shardings=self.programs.state_sharding)(state.params)
        )
        logging.info("IDE backbone initialised from %s", folder)
        return state


def second_part(reid_config, real_train, styled_train=None) -> pipeline.SecondPart | None:
    """What a method's batches hold after their N real images: nothing (baseline; colour_norm, whose real part
    is already normalised), the UnityStyle version of each real image, the real image again (real_twin), or
    generated_batch_size of CamStyle's generated images drawn on their own (`styled_train` = those images)."""
    part = methods.of(reid_config).second_part
    if part == "none":
        return None
    if part == "real_again":
        return pipeline.SecondPart(real_train)
    if styled_train is None:
        raise ValueError(f"reid.method={reid_config.method!r} needs its styled training images")
    if part == "styled":
        return pipeline.SecondPart(styled_train)
    return pipeline.SecondPart(styled_train, aligned=False, batch_size=reid_config.generated_batch_size)


def train(
    config,
    workdir: str,
    splits,
    second_part: pipeline.SecondPart | None,
    mesh,
    programs: ReidPrograms | None = None,
):
    """Trains (or resumes) the IDE model of `workdir` on splits.train plus each batch's second part.
    `programs`: the command's (ReidPrograms.build). The time goes to WORKDIR's stage_times.json as
    "reid" when a step trained; returns whether one did (a finished model is left as it is: no log, no new
    TensorBoard file)."""
    began = time.perf_counter()
    with ReidRun(config, workdir, programs) as run:
        return _train(config, workdir, splits, second_part, mesh, run, began)


def _train(config, workdir: str, splits, second_part, mesh, run: ReidRun, began: float) -> bool:
    restored = run.restore()
    state, start_step = restored if restored else (run.fresh_state(), 0)
    reid = config.reid
    if start_step >= reid.num_steps:
        logging.info(
            "reid[%s]: trained to step %d already (num_steps %d)", reid.method, start_step, reid.num_steps
        )
        return False
    batches = pipeline.reid_train_batches(
        splits.train,
        second_part,
        config.data,
        reid.batch_size,
        config.seed,
        start_step,
        reid.num_steps,
        camera_batches=config.model.camera_bn,
    )
    # The seed is an argument, not a constant: every seed of a comparison runs the same compiled program.
    seed = np.int32(config.seed)
    step_fn = lambda state, batch: run.programs.train.step(state, batch, seed)  # noqa: E731
    second_rows = (
        0 if second_part is None else reid.batch_size if second_part.aligned else second_part.batch_size
    )
    state = training_loop.run(
        members=[training_loop.Member(f"reid[{reid.method}]", run.checkpoints, run.meta, workdir)],
        state=state,
        start_step=start_step,
        num_steps=reid.num_steps,
        batches=batches,
        step_fn=step_fn,
        mesh=mesh,
        log_every=reid.log_every,
        checkpoint_every=reid.checkpoint_every,
        images_per_step=reid.batch_size + second_rows,
    )
    stage_times.add(workdir, "reid", began)
    return True
