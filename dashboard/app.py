"""The dashboard's pages and their JSON, as a Datasette plugin: Datasette stays the data layer and API.

A page is a template that draws its charts from JSON routes; a JSON route is one function of
dashboard/data.py, run in a thread over a store opened read-only for that request, so the server
never writes and never holds a runner's lock. A sweep's data is kept until the sweep changes:
what only a run's end changes until one ends, the curves until an epoch is written. Importance
is refitted beside the server, so no answer waits for a forest.
"""
import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from datasette import hookimpl
from datasette.utils.asgi import Response

from store import RunStore, StoreError

from . import data

STATIC = Path(__file__).resolve().parent / "static"
TYPES = {".js": "application/javascript", ".css": "text/css"}
PAGES = {"home": "dashboard_home.html", "sweep": "dashboard_sweep.html", "run": "dashboard_run.html",
         "compare": "dashboard_compare.html"}


def _read(path, read):
    """``read(store)`` over the store at ``path`` opened read-only, on a connection of its own (a thread's)."""
    store = RunStore(path, create=False, read_only=True)
    try:
        return read(store)
    finally:
        store.db.conn.close()


def _reading(datasette, read):
    """``read(store)`` in a thread, over the served store."""
    return asyncio.to_thread(_read, datasette.get_database().path, read)


SWEEP_READS = {"settled": data.sweep_settled, "live": data.sweep_live}


@functools.lru_cache(maxsize=64)
def _per_state(path, read, args, state):
    """A part of a sweep's page data, computed once for each ``state`` of the sweep it follows (data.sweep_state):
    a poll of an unchanged sweep costs two small reads."""
    return _read(path, lambda store: SWEEP_READS[read](store, *args))


_FITTER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="importance")
_FITS = {}  # (store path, sweep) -> {"answer": the newest fit, "fitted": its sweep state, "fitting": a state or None}


def _importance(path, sweep, state):
    """The newest fit of the sweep's importance, and whether it is of the sweep's ``state``; a fit of that state is
    started in the fitter's thread if none is under way."""
    fit = _FITS.setdefault((path, sweep), {"answer": None, "fitted": None, "fitting": None})
    if fit["fitted"] != state and fit["fitting"] is None:
        fit["fitting"] = state

        def refit():
            try:
                fit["answer"] = _read(path, lambda store: data.importance(store, sweep))
            except Exception as exc:  # noqa: BLE001 - said on the page in place of the ranking, not lost in a thread
                fit["answer"] = {"method": data.IMPORTANCE_METHOD, "runs": 0, "rows": [],
                                 "error": f"importance could not be fitted: {exc}"}
            finally:
                fit["fitted"], fit["fitting"] = state, None

        _FITTER.submit(refit)
    answer = fit["answer"] or {"method": data.IMPORTANCE_METHOD, "runs": 0, "rows": []}
    return {**answer, "current": fit["fitted"] == state}


def _ids(request):
    return [int(i) for i in request.args.get("ids", "").split(",") if i.strip().isdigit()]


def _json(value, status=200):
    return Response.json(value, status=status) if value is not None else \
        Response.json({"error": "not found"}, status=404)


async def _answer(datasette, read):
    try:
        return _json(await _reading(datasette, read))
    except StoreError as exc:
        return _json({"error": str(exc)}, status=400)


def _page(name):
    async def view(request, datasette):
        context = {"database": datasette.get_database().name, "sweep": request.url_vars.get("sweep"),
                   "run_id": request.url_vars.get("run_id"), "ids": _ids(request)}
        return Response.html(await datasette.render_template(PAGES[name], context, request=request))
    return view


async def sweep_json(request, datasette):
    metric = request.args.get("metric", "val_acc")
    if metric not in data.EPOCH_METRICS:
        return _json({"error": f"metric must be one of {', '.join(data.EPOCH_METRICS)}"}, status=400)
    sweep, path = request.url_vars["sweep"], datasette.get_database().path
    settled, live = await _reading(datasette, lambda store: data.sweep_state(store, sweep))
    parts = await asyncio.gather(asyncio.to_thread(_per_state, path, "settled", (sweep,), settled),
                                 asyncio.to_thread(_per_state, path, "live", (sweep, metric), live))
    return _json({"sweep": sweep, **parts[0], **parts[1]})


async def importance_json(request, datasette):
    sweep = request.url_vars["sweep"]
    settled, _ = await _reading(datasette, lambda store: data.sweep_state(store, sweep))
    return _json(_importance(datasette.get_database().path, sweep, settled))


async def run_json(request, datasette):
    return await _answer(datasette, lambda store: data.run_page(store, int(request.url_vars["run_id"])))


async def compare_json(request, datasette):
    return await _answer(datasette, lambda store: data.compare(store, _ids(request)))


@functools.lru_cache(maxsize=1)
def vega_bundle():
    """Vega, Vega-Lite and vega-embed as one script, from the vl-convert-python package (it bundles them): the
    charts need nothing from the network."""
    import vl_convert  # noqa: PLC0415 - the ui extra

    return vl_convert.javascript_bundle()


async def asset(request, datasette):
    name = request.url_vars["name"]
    if name == "vega.js":
        return Response(await asyncio.to_thread(vega_bundle), content_type=TYPES[".js"])
    path = STATIC / name
    if not path.is_file():
        return Response.text("not found", status=404)
    return Response(path.read_text(), content_type=TYPES[path.suffix])


@hookimpl
def register_routes():
    return [
        (r"^/$", _page("home")),
        (r"^/-/sweep/(?P<sweep>[^/]+)$", _page("sweep")),
        (r"^/-/run/(?P<run_id>\d+)$", _page("run")),
        (r"^/-/compare$", _page("compare")),
        (r"^/-/dashboard/(?P<name>[a-z]+\.(js|css))$", asset),
        (r"^/-/api/sweep/(?P<sweep>[^/]+)\.json$", sweep_json),
        (r"^/-/api/importance/(?P<sweep>[^/]+)\.json$", importance_json),
        (r"^/-/api/run/(?P<run_id>\d+)\.json$", run_json),
        (r"^/-/api/compare\.json$", compare_json),
    ]
