"""Build sections and publish them: the one path shared by ``python -m reports`` and the tests."""
from .html import write_section
from .sections import SECTIONS
from .wandb_log import log_section


def make_report(ctx, section_ids):
    """Build, write and log each section in turn; yields (section, figure paths) as each is published."""
    for section_id in section_ids:
        section = SECTIONS[section_id](ctx)
        paths = write_section(section, ctx.out)
        log_section(section, paths, ctx.job)
        yield section, paths
