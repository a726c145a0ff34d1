"""The one declared table of run options.

It builds the argparse parsers of ``train.py`` and ``inference.py`` (through
``option_flags``, so the network never loads argparse) and validates sweep
files and ``best_config.json``, so a choice or a range is written down exactly once.
"""
import math
from dataclasses import dataclass

from .errors import InputError

from .activations import ACTIVATIONS
from .data_sources import DATASETS
from .neural_layer import INITIALIZERS
from .objective_functions import LOSSES
from .optimizers import OPTIMIZERS
from .schedules import SCHEDULES


class ConfigError(InputError, ValueError):
    """A bad option value; its message is the one line shown to the user."""


@dataclass(frozen=True)
class Option:
    name: str
    flags: tuple
    type: type
    default: object
    help: str
    choices: object = None  # a registry (its names), read at each check: an entry added later counts
    minimum: float = None  # inclusive unless ``exclusive``
    exclusive: bool = False
    maximum: float = None  # exclusive
    many: bool = False  # a list of values, as hidden_size
    aliases: tuple = ()  # (other name, choice) pairs, such as the course skeleton's ("mse", "mean_squared_error")

    def canonical(self, value):
        """An alias of a choice -> the choice itself (so both give the same config and key)."""
        return dict(self.aliases).get(value, value)

    def check(self, value):
        """Coerce ``value`` to this option's type and range, or raise ConfigError."""
        if self.many:
            values = value if isinstance(value, (list, tuple)) else [value]
            if not values:
                raise ConfigError(f"{self.name} needs at least one value")
            return [self._check_one(v) for v in values]
        return self._check_one(value)

    def _check_one(self, value):
        value = self.canonical(value)
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
    Option("loss", ("-l", "--loss"), str, "cross_entropy", "training objective (mse: mean_squared_error)",
           choices=LOSSES, aliases=(("mse", "mean_squared_error"),)),
    Option("optimizer", ("-o", "--optimizer"), str, "adam", "update rule", choices=OPTIMIZERS),
    Option("learning_rate", ("-lr", "--learning_rate"), float, 1e-3, "step size", minimum=0, exclusive=True),
    Option("momentum", ("-m", "--momentum"), float, 0.9, "momentum and nag coefficient", minimum=0, maximum=1),
    Option("beta", ("-beta", "--beta"), float, 0.9, "rmsprop decay", minimum=0, maximum=1),
    Option("beta1", ("-beta1", "--beta1"), float, 0.9, "adam/nadam first-moment decay", minimum=0, maximum=1),
    Option("beta2", ("-beta2", "--beta2"), float, 0.999, "adam/nadam second-moment decay", minimum=0, maximum=1),
    Option("epsilon", ("-eps", "--epsilon"), float, 1e-8, "optimizer denominator guard", minimum=0, exclusive=True),
    Option("weight_decay", ("-wd", "--weight_decay"), float, 0.0, "L2 weight decay on weights", minimum=0),
    Option("num_layers", ("-nhl", "--num_layers"), int, 3, "number of hidden layers", minimum=1),
    Option("hidden_size", ("-sz", "--hidden_size"), int, (128,),
           "hidden widths: one value for every layer, or one per layer (without -nhl, one layer per value)",
           minimum=1, many=True),
    Option("activation", ("-a", "--activation"), str, "relu", "hidden activation", choices=ACTIVATIONS),
    Option("weight_init", ("-w_i", "--weight_init"), str, "xavier", "weight initialisation", choices=INITIALIZERS),
    Option("lr_schedule", ("--lr_schedule",), str, "constant", "learning-rate schedule over all steps", choices=SCHEDULES),
    Option("augment", ("--augment",), int, 0, "random shift of training images by up to this many pixels", minimum=0, maximum=8),
    Option("rotate", ("--rotate",), float, 0.0, "random rotation of training images by up to this many degrees",
           minimum=0, maximum=90),
    Option("elastic", ("--elastic",), float, 0.0,
           "elastic distortion of training images: a smooth random field moving pixels this far (RMS, in pixels)",
           minimum=0, maximum=8),
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


# The course skeleton's names for the layer options: --hidden_layers 64 64 (widths), or a count of
# layers with --num_neurons W as their width.
SKELETON_NAMES = ("hidden_layers", "num_neurons")


def read_options(values, names=RUN_OPTION_NAMES + SKELETON_NAMES):
    """The options set in ``values``: a dict, or any object holding them as instance or class attributes."""
    if isinstance(values, dict):
        found = {name: values.get(name) for name in names}
    else:
        found = {name: getattr(values, name, None) for name in names}
    return {name: value for name, value in found.items() if value is not None}


def _skeleton_layers(source, explicit):
    """Turn ``hidden_layers``/``num_neurons`` into ``num_layers``/``hidden_size``; a disagreement is an error.

    ``explicit`` names the options the user set (not defaults or a config file below the flags): only those
    can conflict with the skeleton's names.
    """
    layers, width = source.pop("hidden_layers", None), source.pop("num_neurons", None)
    if layers is None and width is None:
        return source
    if layers is None:
        implied, named = {"hidden_size": [width]}, f"num_neurons {width}"
    else:
        layers = list(layers) if isinstance(layers, (list, tuple)) else [layers]
        named = f"hidden_layers {' '.join(map(str, layers))}"
        if width is not None and len(layers) == 1:  # a count of layers, each num_neurons wide
            implied = {"num_layers": layers[0], "hidden_size": [width]}
        elif width is None or all(w == width for w in layers):
            implied = {"num_layers": len(layers), "hidden_size": layers}
        else:
            raise ConfigError(f"{named} and num_neurons {width} disagree: give one of them")
    num_layers = _BY_NAME["num_layers"].check(
        implied.get("num_layers", source.get("num_layers", _BY_NAME["num_layers"].default)))

    def layer_value(name, value):
        value = _BY_NAME[name].check(value)
        return normalize_hidden_size(value, num_layers) if name == "hidden_size" else value

    for name, value in implied.items():
        if name in explicit and name in source and layer_value(name, source[name]) != layer_value(name, value):
            raise ConfigError(f"{name} {source[name]} conflicts with {named}: give one of them")
        source[name] = value
    return source


def resolve_config(values):
    """Defaults < ``values`` -> a validated, complete run config.

    ``values``: a dict, an argparse.Namespace, or any object with the options as (class) attributes;
    extra keys, such as the scripts' own flags, are ignored. The skeleton's names are accepted.
    Our parsers note which flags were given (``given_flags``), so only those can conflict.
    ``hidden_size`` as a list without ``num_layers`` is that many layers (``-sz 64 32``: two); a single
    number, or ``num_layers`` given too, keeps the rule "one value for every layer" (``-nhl 3 -sz 64``).
    """
    source = read_options(values)
    explicit = getattr(values, "given_flags", None) or set(source)
    source = _skeleton_layers(source, explicit)
    widths = source.get("hidden_size") if "hidden_size" in explicit else None
    if "num_layers" not in explicit and isinstance(widths, (list, tuple)) and widths:
        source["num_layers"] = len(widths)  # a list of widths alone: one layer per width
    config = {}
    for option in RUN_OPTIONS:
        config[option.name] = option.check(source.get(option.name, option.default))
    config["hidden_size"] = normalize_hidden_size(config["hidden_size"], config["num_layers"])
    return config
