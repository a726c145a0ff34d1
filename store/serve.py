"""python -m store serve: the run store as a local web app, through Datasette.

Datasette reads the store over read-only connections, so the UI never writes and a sweep
can write meanwhile (WAL lets readers and one writer work at once). The pages users ask
for are canned queries in store/datasette.yaml; datasette-vega draws their curves. Every
script is served from this machine: the UI works offline.
"""
import json
import os
import tempfile
from pathlib import Path

import yaml

from .db import RunStore, StoreError

HERE = Path(__file__).resolve().parent
METADATA = HERE / "datasette.yaml"
CHARTS_SCRIPT = HERE / "ui" / "charts.js"


def metadata(database):
    """store/datasette.yaml for the store named ``database``, and the chart settings of its queries."""
    spec = yaml.safe_load(METADATA.read_text())
    spec["databases"] = {database: spec["databases"].pop("DATABASE")}
    queries = spec["databases"][database]["queries"]
    charts = {name: query.pop("fragment") for name, query in queries.items() if "fragment" in query}
    return spec, charts


def datasette_args(path, port, host, folder):
    """The ``datasette serve`` arguments for the store at ``path``, with its metadata and script in ``folder``."""
    spec, charts = metadata(path.stem)
    spec["extra_js_urls"] = ["/ui/charts.js"]
    (folder / "metadata.json").write_text(json.dumps(spec, indent=1))
    (folder / "charts.js").write_text(f"const CHARTS = {json.dumps(charts)};\n{CHARTS_SCRIPT.read_text()}")
    # a store that cannot be written (a read-only disk) is served immutable, as RunStore opens it
    mode = "--immutable" if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)) else None
    return ["serve", *([mode] if mode else []), str(path), "--metadata", str(folder / "metadata.json"),
            "--static", f"ui:{folder}", "--port", str(port), "--host", host,
            "--setting", "sql_time_limit_ms", "5000", "--setting", "default_page_size", "50"]


def serve(db=None, port=8001, host="127.0.0.1"):
    """Serve the store until stopped; it is migrated first (runs_flat is a migration's view)."""
    try:
        from datasette.cli import cli  # noqa: PLC0415 - the ui extra
    except ImportError:
        raise StoreError("the web UI needs Datasette: pip install -e '.[ui]' (make install installs it)") from None
    store = RunStore(db, create=False)
    path = store.path.resolve()
    store.close()
    print(f"serving {path} at http://{host}:{port}/{path.stem} (read-only; Ctrl-C stops)", flush=True)
    with tempfile.TemporaryDirectory(prefix="mlp-ui-") as folder:
        cli.main(args=datasette_args(path, port, host, Path(folder)), prog_name="python -m store serve",
                 standalone_mode=False)
