"""The option table as command-line flags: what ``train.py`` and ``inference.py`` add to their parsers."""
import argparse

from .options import RUN_OPTIONS


class _NoteGiven(argparse.Action):
    """Store the value and note the flag as given, so a value from below (a default, a config file) never conflicts."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.given_flags = getattr(namespace, "given_flags", set()) | {self.dest}


def add_run_options(parser, defaults=None):
    """Add every run option, and the skeleton's names for them, to ``parser``; ``defaults`` overrides the table's."""
    defaults = defaults or {}
    for option in RUN_OPTIONS:
        kwargs = dict(help=option.help, default=defaults.get(option.name, option.default), action=_NoteGiven)
        if option.choices:
            kwargs["choices"] = option.choices
        if option.many:
            kwargs["nargs"] = "+"
        kwargs["type"] = (lambda v, o=option: o.canonical(v)) if option.aliases else option.type
        parser.add_argument(*option.flags, dest=option.name, **kwargs)
    parser.add_argument("--hidden_layers", type=int, nargs="+", default=None, metavar="N", action=_NoteGiven,
                        help="the course skeleton's name: hidden widths (64 64 64), or with --num_neurons "
                             "a number of layers")
    parser.add_argument("--num_neurons", type=int, default=None, metavar="W", action=_NoteGiven,
                        help="the course skeleton's name: the width of every hidden layer")
    return parser
