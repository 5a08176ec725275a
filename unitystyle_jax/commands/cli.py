"""What every command does with a bad input (one `error:` line naming the culprit, and a non-zero exit), and with
its logs (this project's progress lines; the libraries' INFO records only with --verbosity=1).

Set UNITYSTYLE_DEBUG=1 to get the full traceback instead.
"""

import logging
import os
import re
import shlex
import sys

from absl import flags

from unitystyle_jax import config_validation
from unitystyle_jax.core import saved_config
from unitystyle_jax.core import errors

PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # unitystyle_jax/

EXIT_ERROR = 1
EXIT_INTERRUPTED = 128 + 15  # as a process killed by SIGTERM, but after a clean save


def fail(message: str):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(EXIT_ERROR)


def run_main(fn, *args, **kwargs):
    """Calls fn; turns user errors and interruptions into one line on stderr and an exit code."""
    try:
        return fn(*args, **kwargs)
    except errors.Interrupted as stop:
        logging.warning("%s", stop)
        print(f"stopped: {stop}", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except errors.UserError as error:
        if os.environ.get("UNITYSTYLE_DEBUG"):
            raise
        fail(str(error).splitlines()[0] if str(error) else type(error).__name__)


def check_config(config) -> None:
    """A command's first step: a bad config value is one `error:` line before the command imports TensorFlow
    and the models, seconds that a mistyped value should not wait for."""
    run_main(config_validation.validate, config)


HELP_FLAGS = frozenset({"--help", "-h", "-?", "--helpshort"})


def command_help(program: str) -> str:
    """The command's own flags (absl's --help lists those of the file Python started, which for an installed
    script defines none), with the saved-config rule that makes --config optional."""
    ours = [
        m for m in flags.FLAGS.flags_by_module_dict() if m.startswith("unitystyle_jax") or m.endswith(".py")
    ]
    return "\n\n".join(
        [
            f"usage: {os.path.basename(program)} --workdir=DIR [--config=FILE] [--config.FIELD=VALUE ...] [flags]",
            f"--config may be left out when DIR holds a trained run's {saved_config.FILE}; --config.FIELD=VALUE "
            "overrides one field of it.",
            *(flags.FLAGS.module_help(m).strip() for m in ours),
            "absl's own flags (--verbosity, ...): --helpfull",
        ]
    )


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing (app.run's flags_parser) with a bad flag as one `error:` line, like any input.

    Left alone, ml_collections turns a config field that does not exist into a traceback, buries a config
    file's own error inside a traceback's text, and defers a missing config file's error to its first use.
    """
    if HELP_FLAGS.intersection(argv):
        print(command_help(argv[0]))
        sys.exit(0)
    if "--helpfull" in argv:
        return flags.FLAGS(argv)  # absl lists every flag and exits
    argv, saved = saved_config.with_saved_config(argv)
    if not saved_config.names_config(argv):
        fail(f"--config: give the config file the run was trained with (no {saved_config.FILE} in --workdir)")
    if saved:
        overrides = [a for a in argv[1:] if a.startswith("--config.")]
        print(f"config: {saved}" + (f" with {' '.join(overrides)}" if overrides else ""), file=sys.stderr)
    try:
        remaining = flags.FLAGS(argv)
        flags.FLAGS.config.to_dict()  # raises the deferred load error of --config now
        if flags.FLAGS.verbosity < 1:
            quiet_libraries()
        return remaining
    except flags.Error as error:
        fail(_first_and_last_line(str(error)))
    except OSError as error:
        fail(f"--config: {_first_and_last_line(str(error.__cause__ or error))}")
    except (AttributeError, KeyError) as error:  # ml_collections: an override names no field of the config
        fail(_unknown_field(error, argv))


def config_from_flags(config_file: str, argv: list[str]):
    """The config a command given ARGV would run with (`--config=...` overrides applied on CONFIG_FILE), read
    outside that command: what a benchmark that started it reads back."""
    from ml_collections import config_flags

    holder = flags.FlagValues()
    argv = ["config", *(f for f in argv if f.startswith("--config."))]
    config_flags.DEFINE_config_file("config", config_file, flag_values=holder, sys_argv=argv)
    holder(argv)
    return holder.config


def evaluate_command(workdir: str) -> str:
    """The command that evaluates WORKDIR, spelt as this one was started (an installed `unitystyle-` script or
    a top-level file): the run's saved config makes --workdir enough."""
    installed = os.path.basename(sys.argv[0]).startswith("unitystyle-")
    return f"{'unitystyle-evaluate' if installed else 'python evaluate.py'} --workdir={shlex.quote(workdir)}"


def quiet_libraries() -> None:
    """Drops other packages' INFO records (orbax's bookkeeping of every checkpoint: nearly all of a tiny run's
    lines) from the log handlers, keeping this project's lines, clu's progress report (`PROGRESS_NOTES`: steps/s
    and the time left, once per logging window) and everyone's warnings but orbax's notes on its own bookkeeping
    (`ORBAX_NOTES`: a read-only manager, which restoring a generator or an IDE backbone opens on purpose, and a
    save's wait for the previous one). absl's --verbosity=1 keeps them all."""
    for handler in logging.root.handlers:
        handler.addFilter(_project_or_warning)


# orbax's warnings that describe its own bookkeeping, not a problem: the note on every read-only manager, and
# the time a save waited for the previous one (seconds on a loaded machine, for a tiny checkpoint).
ORBAX_NOTES = ("Given directory is read only=%s", "Waiting for previous save to complete took")


# What clu's progress report (periodic_actions.ReportProgress) prints on a machine of one's own.
PROGRESS_NOTES = "Setting work unit notes: "


def _project_or_warning(record: logging.LogRecord) -> bool:
    if record.pathname.startswith(PACKAGE_DIR + os.sep) or str(record.msg).startswith(PROGRESS_NOTES):
        return True
    return record.levelno >= logging.WARNING and not str(record.msg).startswith(ORBAX_NOTES)


def _unknown_field(error: Exception, argv: list[str]) -> str:
    """'--config.reid.bacth_size: the config has no field 'bacth_size' (did you mean "batch_size"?)'."""
    root = error
    while root.__context__ is not None:  # the first KeyError of the chain holds the bare field name
        root = root.__context__
    field = str(root.args[0]) if root.args else str(root)
    names = [arg.split("=")[0] for arg in argv[1:] if arg.startswith("--config.")]
    flag = next((name for name in names if field in name.split(".")), "--config")
    hint = re.search(r'Did you mean "([^"]+)"', str(error))
    return f"{flag}: the config has no field {field!r}" + (f' (did you mean "{hint[1]}"?)' if hint else "")


def _first_and_last_line(message: str) -> str:
    """'what failed: why', from a message whose cause is on its last line (a traceback, a list of tries)."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if len(lines) < 2:
        return lines[0] if lines else message
    return f"{lines[0].rstrip(':')}: {lines[-1]}"
