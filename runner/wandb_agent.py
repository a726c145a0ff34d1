"""``--backend wandb``: the same sweep file driven by W&B's sweep controller and an agent.

W&B's controller lives on its server, so this needs to be online; each run the
agent hands out is trained by run_one and recorded in the store like any other.
"""
import sys

from cli import InputError
from mlp.options import ConfigError, resolve_config

from .job import run_one
from .recording import key_defaults, persist
from .tracking import has_credentials, resolve_mode


def run_agent(spec, store, ctx):
    if resolve_mode(ctx.wandb_mode) != "online" or not has_credentials():
        raise InputError("--backend wandb needs W&B online: run `wandb login` (or set WANDB_API_KEY) and a "
                         "reachable server; use --backend loky otherwise")
    import wandb  # noqa: PLC0415

    store.use_defaults(key_defaults())
    sweep_id = wandb.sweep(dict(spec), project=ctx.wandb_project, entity=ctx.wandb_entity)

    def train():
        with wandb.init(group=ctx.sweep) as agent_run:
            try:
                config = resolve_config(dict(agent_run.config))
            except ConfigError as exc:
                print(f"skipping a proposal: {exc}", file=sys.stderr)
                return
            result = run_one(config, ctx.__class__(**{**ctx.__dict__, "wandb_mode": "disabled"}),
                             on_epoch=lambda m: agent_run.log(m))
            result["wandb_run_id"] = agent_run.id
            agent_run.summary.update({k: result.get(k) for k in ("val_acc", "test_acc", "test_f1")})
            persist(store, spec["name"], ctx.runs_dir, result)

    wandb.agent(sweep_id, function=train, count=spec.get("run_cap"))
    return 0
