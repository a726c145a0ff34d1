"""Weights & Biases runs that never wait for a login.

``auto`` mode goes online only when credentials exist (an API key in the
environment or ~/.netrc) and falls back to offline if the server cannot be
reached; with no credentials it is offline from the start, syncable later
with ``wandb sync wandb/offline-run-*``.
"""
import netrc
import os
import sys

WANDB_MODES = ("auto", "online", "offline", "disabled")
WANDB_PROJECT = "mlp-sweeps"  # the W&B project every run, sweep and report goes to unless -wp says


def has_credentials():
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


def resolve_mode(mode):
    """auto -> $WANDB_MODE if set, else online with credentials, else offline."""
    if mode != "auto":
        return mode
    env = os.environ.get("WANDB_MODE")
    if env in WANDB_MODES[1:]:
        return env
    return "online" if has_credentials() else "offline"


class DisabledRun:
    """The calls a job makes on a wandb run, doing nothing: W&B off costs no import of wandb (about 1.5 s)."""

    id = None

    def __init__(self):
        self.summary = {}

    def log(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False


def start_run(mode="auto", **init_kwargs):
    """A started wandb run (a do-nothing one when disabled); use it as a context manager."""
    mode = resolve_mode(mode)
    if mode == "disabled":
        return DisabledRun()
    import wandb  # noqa: PLC0415 - heavy; imported only where a run is made

    settings = wandb.Settings(reinit="finish_previous", init_timeout=30, silent=True, console="off")
    try:
        return wandb.init(mode=mode, settings=settings, **init_kwargs)
    except Exception as exc:  # unreachable server or refused key: keep the run, offline
        if mode != "online":
            raise
        print(f"warning: W&B online failed ({type(exc).__name__}); logging offline", file=sys.stderr)
        return wandb.init(mode="offline", settings=settings, **init_kwargs)
