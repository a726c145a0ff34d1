"""Build sections and publish them: the one path shared by ``python -m reports`` and the tests."""
from store import store_path

from .html import write_section
from .queries import SectionError
from .section import Section
from .sections import SECTIONS
from .wandb_log import log_section


def build_section(module, ctx):
    """Train what the section lacks, then its facts, its prose and its drawing; a section whose input is not at
    hand is a placeholder that names what fills it in."""
    try:
        if module.SPEC.sweep:
            ctx.train_missing(ctx.spec(module.SPEC.sweep))
        if hasattr(module, "train"):
            module.train(ctx)
        facts = module.facts(ctx)
        return Section(module.SPEC, module.say(facts), module.draw(facts))
    except SectionError as exc:
        return Section(module.SPEC, missing=str(exc))


def make_report(ctx, section_ids):
    """Build, write and log each section in turn; yields (section, figure paths) as each is published, so the
    others still build when one lacks its input."""
    store = store_path(ctx.db).resolve()
    for section_id in section_ids:
        section = build_section(SECTIONS[section_id], ctx)
        paths = write_section(section, ctx.out, store)
        if not section.missing:
            log_section(section, paths, ctx.job)
        yield section, paths
