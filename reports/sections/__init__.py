"""The report's sections, found here: every module of this package with a SPEC is one (reports.section).

Adding a section is adding its module (and its sweep file, if it trains one);
nothing else lists them.
"""
import importlib
import pkgutil


def _number(section_id):
    return tuple(int(part) for part in section_id.split("."))


def _discover():
    modules = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)]
    found = {}
    for module in modules:
        if module.SPEC.id in found:
            raise ImportError(f"sections {found[module.SPEC.id].__name__} and {module.__name__} both have id "
                              f"{module.SPEC.id}")
        found[module.SPEC.id] = module
    return dict(sorted(found.items(), key=lambda item: _number(item[0])))


SECTIONS = _discover()  # id -> module, in section order
# `all` builds the sections that train their own sweep first, then those that read what others trained.
BUILD_ORDER = tuple(sorted(SECTIONS, key=lambda i: (SECTIONS[i].SPEC.stage, _number(i))))
