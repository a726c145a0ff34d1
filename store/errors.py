"""The store's one error: every failure to open, read or write it, in one line naming the file."""
from mlp.errors import InputError


class StoreError(InputError, RuntimeError):
    """The store cannot be opened, read or written; the message names the file."""
