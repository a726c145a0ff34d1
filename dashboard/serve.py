"""python -m store serve (make ui): the dashboard over a run store, served by Datasette.

Datasette reads the store over read-only connections, so the UI never writes and a sweep can
write meanwhile (WAL lets readers and one writer work at once). The dashboard's pages are a
plugin of this package (dashboard/app.py); Datasette's own table pages, canned queries
(dashboard/datasette.yaml) and JSON API stay behind them. Every script is served from this
machine: the UI works offline.
"""
import json
import os
import tempfile
from pathlib import Path

import yaml

from store import RunStore, StoreError

HERE = Path(__file__).resolve().parent
METADATA = HERE / "datasette.yaml"


def metadata(database):
    """dashboard/datasette.yaml for the store named ``database``."""
    spec = yaml.safe_load(METADATA.read_text())
    spec["databases"] = {database: spec["databases"].pop("DATABASE")}
    return spec


def datasette_args(path, port, host, folder):
    """The ``datasette serve`` arguments for the store at ``path``, with its metadata in ``folder``."""
    (folder / "metadata.json").write_text(json.dumps(metadata(path.stem), indent=1))
    # a store that cannot be written (a read-only disk) is served immutable, as RunStore opens it
    mode = "--immutable" if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)) else None
    return ["serve", *([mode] if mode else []), str(path), "--metadata", str(folder / "metadata.json"),
            "--template-dir", str(HERE / "templates"), "--port", str(port), "--host", host,
            "--setting", "sql_time_limit_ms", "5000", "--setting", "default_page_size", "50",
            "--setting", "suggest_facets", "off"]


def serve(db=None, port=8001, host="127.0.0.1"):
    """Serve the store until stopped; it is migrated first (runs_flat is a migration's view)."""
    try:
        from datasette.cli import cli  # noqa: PLC0415 - the ui extra
        from datasette.plugins import pm  # noqa: PLC0415

        from . import app  # noqa: PLC0415
    except ImportError:
        raise StoreError("the web UI needs Datasette and vl-convert-python: pip install -e '.[ui]' (make install "
                         "installs them)") from None
    store = RunStore(db, create=False)
    path = store.path.resolve()
    store.close()
    if not pm.is_registered(app):
        pm.register(app, name="mlp-dashboard")
    app.vega_bundle()  # made once, before the first page asks for it
    print(f"serving {path} at http://{host}:{port}/ (read-only; Ctrl-C stops)", flush=True)
    with tempfile.TemporaryDirectory(prefix="mlp-ui-") as folder:
        cli.main(args=datasette_args(path, port, host, Path(folder)), prog_name="python -m store serve",
                 standalone_mode=False)
