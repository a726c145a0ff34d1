"""The one declared table of run options.

It builds the argparse parsers of ``train.py`` and ``inference.py`` and
validates sweep files and ``best_config.json``, so a choice or a range is
written down exactly once.
"""
import argparse
import math
import sys
from dataclasses import dataclass

from .activations import ACTIVATIONS
from .data import DATASETS
from .neural_layer import INITIALIZERS
from .objective_functions import LOSSES
from .optimizers import OPTIMIZERS
from .schedules import SCHEDULES


class ConfigError(ValueError):
    """A bad option value; its message is the one line shown to the user."""


@dataclass(frozen=True)
class Option:
    name: str
    flags: tuple
    type: type
    default: object
    help: str
    choices: tuple = None
    minimum: float = None  # inclusive unless ``exclusive``
    exclusive: bool = False
    maximum: float = None  # exclusive
    many: bool = False  # a list of values, as hidden_size

    def check(self, value):
        """Coerce ``value`` to this option's type and range, or raise ConfigError."""
        if self.many:
            values = value if isinstance(value, (list, tuple)) else [value]
            if not values:
                raise ConfigError(f"{self.name} needs at least one value")
            return [self._check_one(v) for v in values]
        return self._check_one(value)

    def _check_one(self, value):
        try:
            if self.type is int and (isinstance(value, bool) or float(value) != int(float(value))):
                raise ValueError
            v = self.type(float(value)) if self.type is int else self.type(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{self.name} must be {self.type.__name__}; got {value!r}") from None
        if self.choices is not None and v not in self.choices:
            raise ConfigError(f"{self.name} must be one of {', '.join(self.choices)}; got {value!r}")
        if self.type is float and not math.isfinite(v):
            raise ConfigError(f"{self.name} must be a finite number; got {value!r}")
        if self.minimum is not None and (v <= self.minimum if self.exclusive else v < self.minimum):
            raise ConfigError(f"{self.name} must be {'>' if self.exclusive else '>='} {self.minimum}; got {value!r}")
        if self.maximum is not None and v >= self.maximum:
            raise ConfigError(f"{self.name} must be < {self.maximum}; got {value!r}")
        return v


# Options that define a run: they are its configuration, hashed and stored.
RUN_OPTIONS = (
    Option("dataset", ("-d", "--dataset"), str, "mnist", "dataset to train on", choices=DATASETS),
    Option("epochs", ("-e", "--epochs"), int, 10, "passes over the training split", minimum=1),
    Option("batch_size", ("-b", "--batch_size"), int, 64, "examples per gradient step", minimum=1),
    Option("loss", ("-l", "--loss"), str, "cross_entropy", "training objective", choices=tuple(LOSSES)),
    Option("optimizer", ("-o", "--optimizer"), str, "adam", "update rule", choices=tuple(OPTIMIZERS)),
    Option("learning_rate", ("-lr", "--learning_rate"), float, 1e-3, "step size", minimum=0, exclusive=True),
    Option("momentum", ("-m", "--momentum"), float, 0.9, "momentum and nag coefficient", minimum=0, maximum=1),
    Option("beta", ("-beta", "--beta"), float, 0.9, "rmsprop decay", minimum=0, maximum=1),
    Option("beta1", ("-beta1", "--beta1"), float, 0.9, "adam/nadam first-moment decay", minimum=0, maximum=1),
    Option("beta2", ("-beta2", "--beta2"), float, 0.999, "adam/nadam second-moment decay", minimum=0, maximum=1),
    Option("epsilon", ("-eps", "--epsilon"), float, 1e-8, "optimizer denominator guard", minimum=0, exclusive=True),
    Option("weight_decay", ("-wd", "--weight_decay"), float, 0.0, "L2 weight decay on weights", minimum=0),
    Option("num_layers", ("-nhl", "--num_layers"), int, 3, "number of hidden layers", minimum=1),
    Option("hidden_size", ("-sz", "--hidden_size"), int, (128,),
           "hidden widths: one value for every layer, or one per layer", minimum=1, many=True),
    Option("activation", ("-a", "--activation"), str, "relu", "hidden activation", choices=tuple(ACTIVATIONS)),
    Option("weight_init", ("-w_i", "--weight_init"), str, "xavier", "weight initialisation", choices=tuple(INITIALIZERS)),
    Option("lr_schedule", ("--lr_schedule",), str, "constant", "learning-rate schedule over all steps", choices=tuple(SCHEDULES)),
    Option("augment", ("--augment",), int, 0, "random shift of training images by up to this many pixels", minimum=0, maximum=8),
    Option("flip", ("--flip",), int, 0, "1: mirror each training image left-right with probability 1/2 (clothing)",
           minimum=0, maximum=2),
    Option("dropout", ("--dropout",), float, 0.0, "probability of silencing each hidden unit in a training step",
           minimum=0, maximum=1),
    Option("val_fraction", ("--val_fraction",), float, 0.1, "share of the training split held out for validation",
           minimum=0, exclusive=True, maximum=1),
    Option("train_size", ("--train_size",), int, 0,
           "train on a stratified subset of this many training images (0: all); for quick checks", minimum=0),
    Option("seed", ("--seed",), int, 0, "seed of initialisation, shuffling and the validation split", minimum=0),
    Option("dtype", ("--dtype",), str, "float64", "float precision (float32 is about twice as fast)",
           choices=("float64", "float32")),
)
RUN_OPTION_NAMES = tuple(o.name for o in RUN_OPTIONS)
_BY_NAME = {o.name: o for o in RUN_OPTIONS}


def normalize_hidden_size(hidden_size, num_layers):
    """One width for every layer, or one per layer -> a list of ``num_layers`` widths."""
    if len(hidden_size) == 1:
        return list(hidden_size) * num_layers
    if len(hidden_size) != num_layers:
        raise ConfigError(
            f"hidden_size has {len(hidden_size)} values but num_layers is {num_layers}: "
            f"give one value or {num_layers}"
        )
    return list(hidden_size)


def resolve_config(values, strict=False):
    """Defaults < ``values`` (a dict or Namespace) -> a validated, complete run config.

    With ``strict`` an unknown key is an error (config files); otherwise extra
    attributes, such as the scripts' own flags, are ignored.
    """
    source = values if isinstance(values, dict) else vars(values)
    if strict:
        unknown = sorted(set(source) - set(RUN_OPTION_NAMES))
        if unknown:
            raise ConfigError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(RUN_OPTION_NAMES)}")
    config = {}
    for option in RUN_OPTIONS:
        value = source.get(option.name)
        config[option.name] = option.check(option.default if value is None else value)
    config["hidden_size"] = normalize_hidden_size(config["hidden_size"], config["num_layers"])
    return config


def exit_with_error(prog, message):
    """Bad input ends here: one line on stderr, exit status 2."""
    sys.stderr.write(f"{prog}: error: {message}\n")
    sys.exit(2)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line and exit status 2.

    Abbreviations are off: ``--lr`` must not silently mean ``--lr_schedule``.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        exit_with_error(self.prog, f"{message} (see --help)")


def add_run_options(parser, defaults=None):
    """Add every run option to ``parser``; ``defaults`` overrides the table's defaults."""
    defaults = defaults or {}
    for option in RUN_OPTIONS:
        kwargs = dict(help=option.help, default=defaults.get(option.name, option.default))
        if option.choices:
            kwargs["choices"] = option.choices
        if option.many:
            kwargs["nargs"] = "+"
        kwargs["type"] = option.type
        parser.add_argument(*option.flags, dest=option.name, **kwargs)
    return parser


def parse_known(parser, argv=None):
    """Parse ``argv``; unknown flags are named in a warning, not a crash."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f"warning: ignoring unknown argument(s): {' '.join(unknown)}", file=sys.stderr)
    return args
