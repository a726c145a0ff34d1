"""Build sections and publish them: the one path shared by ``python -m reports`` and the tests."""
from .html import publish
from .sections import SECTIONS
from .wandb_log import log_section


def make_report(ctx, section_ids):
    """Build, write and log each section in turn; yields (section, figure paths) as each is published."""
    for section_id in section_ids:
        section = SECTIONS[section_id](ctx)
        paths = publish(section, ctx.out)
        log_section(section, paths, ctx)
        yield section, paths
