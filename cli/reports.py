"""python -m reports SECTION|all: build analysis sections of the local HTML report from the run store."""
from cli import InputError, OneLineParser, add_job_options, exit_with_error, one_line_errors, run_command
from reports.build import make_report
from reports.context import DEFAULT_OUT, BuildContext
from reports.sections import BUILD_ORDER, SECTIONS
from runner.job import JobContext

PROG = "python -m reports"


def build_parser():
    parser = OneLineParser(prog=PROG, description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("section", choices=(*SECTIONS, "all"), help="a section 2.1 ... 2.10, or all")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="report folder (report/ at the project root)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="parallel training processes")
    parser.add_argument("--no-train", action="store_true", help="never train: report only what the store holds")
    return add_job_options(parser)


def main(argv=None):
    args = build_parser().parse_args(argv)
    ctx = BuildContext(out=args.out, db=args.db, job=JobContext.from_args(args, "report"), jobs=args.jobs,
                       train=not args.no_train)
    ids = BUILD_ORDER if args.section == "all" else (args.section,)
    missing = []
    with one_line_errors(PROG):
        if args.jobs < 1:
            raise InputError(f"--jobs must be >= 1; got {args.jobs}")
        for section, paths in make_report(ctx, ids):
            if section.missing:
                missing.append(section)
                print(f"{section.id} {section.title}: not built: {section.missing}")
            else:
                print(f"{section.id} {section.title}: {len(section.findings.sentences)} findings, "
                      f"{len(paths)} figures")
    print(f"report: {ctx.out}/index.html")
    if missing:
        exit_with_error(PROG, f"{len(missing)} of {len(ids)} sections lack their input "
                              f"({', '.join(s.id for s in missing)}): " +
                        (missing[0].missing if len(missing) == 1 else "each says in the report what fills it in"))
    return 0


def command():
    return run_command(PROG, main, "the runs in flight were released; the same command resumes")
