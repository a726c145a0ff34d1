"""python -m store: query the run store, or serve it as a web app (the command is cli/store.py)."""
import sys

from cli.store import command

if __name__ == "__main__":
    sys.exit(command())
