"""The dashboard's pages and their JSON, as a Datasette plugin: Datasette stays the data layer and API.

A page is a template that draws its charts from one JSON route; a JSON route is one function of
dashboard/data.py, run in a thread over a store opened read-only for that request, so the server
never writes and never holds a runner's lock.
"""
import asyncio
import functools
from pathlib import Path

from datasette import hookimpl
from datasette.utils.asgi import Response

from store import RunStore, StoreError

from . import data

STATIC = Path(__file__).resolve().parent / "static"
TYPES = {".js": "application/javascript", ".css": "text/css"}
PAGES = {"home": "dashboard_home.html", "sweep": "dashboard_sweep.html", "run": "dashboard_run.html",
         "compare": "dashboard_compare.html"}


def _reading(datasette, read):
    """``read(store)`` in a thread, over the served store opened read-only."""
    def run():
        store = RunStore(datasette.get_database().path, create=False, read_only=True)
        try:
            return read(store)
        finally:
            store.db.conn.close()
    return asyncio.to_thread(run)


@functools.lru_cache(maxsize=32)
def _importance(path, sweep, state):
    """Report 2.2's importance, fitted once per state of the sweep (its evaluated runs)."""
    store = RunStore(path, create=False, read_only=True)
    try:
        return data.importance(store, sweep)
    finally:
        store.db.conn.close()


def _sweep_state(store, sweep):
    """What changes when a run of the sweep ends: its count of runs by status."""
    return tuple(sorted(store.status_counts(sweep).items()))


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
    sweep, metric = request.url_vars["sweep"], request.args.get("metric", "val_acc")
    if metric not in data.EPOCH_METRICS:
        return _json({"error": f"metric must be one of {', '.join(data.EPOCH_METRICS)}"}, status=400)
    return await _answer(datasette, lambda store: {
        **data.in_flight(store, sweep), "curves": data.sweep_curves(store, sweep, metric),
        "progress": data.search_progress(store, sweep), "parallel": data.parallel_coordinates(store, sweep),
        "best_runs": data.best_runs(store, sweep)})


async def importance_json(request, datasette):
    sweep = request.url_vars["sweep"]
    path = datasette.get_database().path
    state = await _reading(datasette, lambda store: _sweep_state(store, sweep))
    return _json(await asyncio.to_thread(_importance, path, sweep, state))


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
