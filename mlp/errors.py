"""The one error a user is shown as a line, not a traceback: the lowest layer, importing nothing, so the network
raises it without loading any command-line machinery (``mlp.command_line`` turns it into the line)."""


class InputError(Exception):
    """Bad input or an unusable file: the message names what is wrong and how to fix it."""
