"""``--backend wandb``: the same sweep file driven by W&B's sweep controller and an agent.

W&B's controller lives on its server, so this needs to be online. Each run the agent
hands out goes through the same pipeline as any other, claimed under a lease, trained
here and logged into the agent's own W&B run.
"""
import sys

from mlp.errors import InputError
from mlp.options import ConfigError, resolve_config

from .pipeline import run_pipeline
from .proposers import FixedProposer
from .retention import Retention
from .sweep_file import OUR_KEYS
from .tracking import has_credentials, resolve_mode
from .workers import InProcessWorkers


def run_agent(spec, store, ctx):
    if resolve_mode(ctx.wandb_mode) != "online" or not has_credentials():
        raise InputError("--backend wandb needs W&B online: run `wandb login` (or set WANDB_API_KEY) and a "
                         "reachable server; use --backend loky otherwise")
    import wandb  # noqa: PLC0415

    # OUR_KEYS are not W&B's (its schema takes no key it does not know): its controller proposes from its own runs,
    # and the runs it proposes keep their files by the file's keep_weights, applied here
    sweep_id = wandb.sweep({k: v for k, v in spec.items() if k not in OUR_KEYS}, project=ctx.wandb_project,
                           entity=ctx.wandb_entity)

    def train():
        with wandb.init(group=ctx.sweep) as agent_run:
            try:
                config = resolve_config(dict(agent_run.config))
            except ConfigError as exc:
                print(f"skipping a proposal: {exc}", file=sys.stderr)
                return
            run_pipeline(FixedProposer(spec["name"], store, [config]), store, InProcessWorkers(wandb_run=agent_run),
                         ctx, progress=False, retention=Retention.from_spec(spec))

    wandb.agent(sweep_id, function=train, count=spec.get("run_cap"))
    return 0
