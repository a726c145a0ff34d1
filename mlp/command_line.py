"""What a command line of this project needs: one-line errors, an orderly end on SIGTERM, Ctrl-C or a closed pipe,
and a parser that never swallows a flag.

Standard library only, and part of ``mlp/`` so that the network, copied alone into a
skeleton checkout as ``src/ann/``, still names its bad input the same way.
"""
import argparse
import contextlib
import os
import re
import signal
import sys

from .errors import InputError

_NUMBER = re.compile(r"^-\.?\d")  # -1, -0.5, -.5, -1e-3: a value, never a flag


def exit_with_error(prog, message):
    """Bad input ends here: one line on stderr, exit status 2."""
    sys.stderr.write(f"{prog}: error: {message}\n")
    sys.exit(2)


@contextlib.contextmanager
def one_line_errors(prog):
    """Inside, an InputError ends the command in one line with exit status 2, never a traceback."""
    try:
        yield
    except InputError as exc:
        exit_with_error(prog, exc)


class Stopped(KeyboardInterrupt):
    """SIGTERM (a batch scheduler's stop, a closed terminal), raised where the command is, as Ctrl-C is, so the
    same cleanup runs on the way out: runs in flight released, workers stopped, temporary files removed."""


def _stop(signum, frame):
    raise Stopped(signal.Signals(signum).name)


def run_command(prog, main, on_stop=""):
    """A command line's entry: ``main()``'s exit status. SIGTERM and Ctrl-C end it in one line, ``prog: stopped
    by SIGTERM; <on_stop>``, with exit status 143 or 130 (128 + the signal); a reader that closes the pipe
    (``| head``) ends it quietly, with the status of a process SIGPIPE ends (141).

    A SIGINT the command was started ignoring (a background job of a script, ``nohup``-style wrappers) stays
    ignored, as the interpreter and POSIX tools leave it; SIGTERM is always honoured."""
    previous = signal.signal(signal.SIGTERM, _stop) or signal.SIG_DFL  # None: a handler set outside Python
    try:
        status = main()
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return status
    except KeyboardInterrupt as exc:
        signum = signal.SIGTERM if isinstance(exc, Stopped) else signal.SIGINT
        sys.stderr.write(f"{prog}: stopped by {signum.name}" + (f"; {on_stop}" if on_stop else "") + "\n")
        return 128 + signum
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the exit's own flush must not fail too
        return 128 + signal.SIGPIPE
    finally:  # done: a stop now only ends the exit (SIG_DFL in a command), with no traceback
        signal.signal(signal.SIGTERM, previous)


def _is_flag(token):
    return token.startswith("-") and len(token) > 1 and not _NUMBER.match(token)


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line and exit status 2, and shows every default in --help.

    A flag is known only by its whole name: argparse alone reads ``-mp X`` as ``-m pX`` and ``-ep`` as an
    abbreviation of ``-eps``, so a grader's unknown flag could change a setting or end the command.
    ``parse_known_args`` sets every other flag aside, with the values that follow it (a parser with
    subcommands leaves that to each subcommand's parser, which knows their flags).
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        exit_with_error(self.prog, f"{message} (see --help)")

    def parse_known_args(self, args=None, namespace=None):
        if self._subparsers is not None:
            return super().parse_known_args(args, namespace)
        tokens = list(sys.argv[1:] if args is None else args)
        known, unknown = [], []
        i = 0
        while i < len(tokens):
            token = tokens[i]
            if token == "--":
                known.extend(tokens[i:])
                break
            i += 1
            if not _is_flag(token) or token.split("=", 1)[0] in self._option_string_actions:
                known.append(token)
                continue
            unknown.append(token)
            while i < len(tokens) and not _is_flag(tokens[i]):  # the unknown flag's values go with it
                unknown.append(tokens[i])
                i += 1
        namespace, extra = super().parse_known_args(known, namespace)
        return namespace, unknown + extra


def parse_known(parser, argv=None):
    """Parse ``argv``; unknown flags are named in a warning, not a crash."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f"warning: ignoring unknown argument(s): {' '.join(unknown)}", file=sys.stderr)
    return args
