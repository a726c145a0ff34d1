"""python -m reports SECTION|all: build the report's sections (the command is cli/reports.py)."""
import sys

from cli.reports import command

if __name__ == "__main__":
    sys.exit(command())
