"""Build sections and publish them: the one path shared by ``python -m reports`` and the tests."""
from store import store_path

from .context import Section
from .html import write_section
from .queries import SectionError
from .sections import SECTIONS
from .wandb_log import log_section


def make_report(ctx, section_ids):
    """Build, write and log each section in turn; yields (section, figure paths) as each is published.
    A section whose input is not at hand is published as a placeholder that names what fills it in, and
    the others still build."""
    store = store_path(ctx.db).resolve()
    for section_id in section_ids:
        try:
            section = SECTIONS[section_id](ctx)
        except SectionError as exc:
            section = Section.placeholder(section_id, str(exc))
        paths = write_section(section, ctx.out, store)
        if not section.missing:
            log_section(section, paths, ctx.job)
        yield section, paths
