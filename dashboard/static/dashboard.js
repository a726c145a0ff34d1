// The dashboard's pages: each fetches its JSON from this server and draws it with Vega-Lite (vega.js, bundled by
// vl-convert-python). Pages that can change while runners write poll their JSON and redraw when it changed.
(function () {
  "use strict";
  const main = document.getElementById("dashboard");
  const page = main.dataset.page, database = main.dataset.database;
  const POLL_MS = 2000;
  const WIDTH = 640;

  // Epochs are whole: a short run's axis ticks each one, a long run's gets Vega's own (whole) ticks.
  function epochAxis(rows) {
    const last = Math.max(1, ...rows.map((r) => r.epoch));
    return last <= 20 ? { format: "d", values: Array.from({ length: last }, (_, i) => i + 1) } : { format: "d" };
  }

  async function getJSON(url) {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: ${response.status}`);
    return response.json();
  }

  function draw(id, spec) {
    return vegaEmbed("#" + id, spec,
                     { actions: false, renderer: "svg" });
  }

  function cell(row, value, link) {
    const td = row.insertCell();
    if (link) {
      const a = document.createElement("a");
      a.href = link;
      a.textContent = value;
      td.appendChild(a);
    } else {
      td.textContent = value === null || value === undefined ? "" : value;
    }
    return td;
  }

  function number(value, digits) {
    return typeof value === "number" ? (Number.isInteger(value) ? value : value.toFixed(digits || 4)) : value;
  }

  function setText(id, text) {
    document.getElementById(id).textContent = text;
  }

  // Poll ``load`` and call ``show`` with what it returns whenever that changed, until ``settled(value)`` says
  // nothing more will change.
  function follow(load, show, settled) {
    let last = null, done = false;
    async function tick() {
      try {
        const value = await load();
        const text = JSON.stringify(value);
        if (text !== last) {
          last = text;
          await show(value);
        }
        done = settled ? settled(value) : false;
      } finally {
        if (!done) setTimeout(tick, POLL_MS);
      }
    }
    tick();
  }

  const summary = () => getJSON(`/${database}/sweep_summary.json?_shape=array`);

  // -- home: the sweeps --------------------------------------------------------------------------
  function home() {
    follow(summary, (rows) => {
      const body = document.querySelector("#sweeps tbody");
      body.innerHTML = "";
      for (const r of rows) {
        const row = body.insertRow();
        row.dataset.sweep = r.sweep;
        cell(row, r.sweep, `/-/sweep/${encodeURIComponent(r.sweep)}`);
        for (const k of ["runs", "finished", "stopped", "running", "failed", "diverged", "best_val_acc", "epochs",
                         "minutes"]) cell(row, number(r[k]));
      }
      setText("sweeps-note", rows.length ? `${rows.length} sweep${rows.length === 1 ? "" : "s"}.` : "No runs yet: run a sweep or train.py.");
    });
  }

  // -- a sweep -----------------------------------------------------------------------------------
  function curvesSpec(curves) {
    const axis = epochAxis(curves.band);
    return {
      width: WIDTH, height: 300,
      layer: [
        { data: { values: curves.band },
          mark: { type: "area", color: "#ccc", opacity: 0.6 },
          encoding: { x: { field: "epoch", type: "quantitative", title: "epoch", axis },
                      y: { field: "low", type: "quantitative", title: curves.metric, scale: { zero: false } },
                      y2: { field: "high" } } },
        { data: { values: curves.lines },
          transform: [{ calculate: `datum.run_id === ${curves.best} ? 'best run' : datum.status === 'running' ? ` +
                                   "'training now' : 'other runs'", as: "run" }],
          mark: { type: "line", point: false },
          encoding: { x: { field: "epoch", type: "quantitative", axis }, y: { field: "value", type: "quantitative" },
                      detail: { field: "run_id" },
                      color: { field: "run", type: "nominal", scale: { domain: ["best run", "training now", "other runs"],
                                                                           range: ["#d62728", "#ff7f0e", "#4c78a8"] } },
                      strokeWidth: { condition: { test: `datum.run_id === ${curves.best}`, value: 3 }, value: 1 },
                      opacity: { condition: { test: `datum.run_id === ${curves.best} || datum.status === 'running'`,
                                              value: 1 }, value: 0.35 },
                      tooltip: [{ field: "run_id" }, { field: "epoch" }, { field: "value" }, { field: "status" }] } },
        { data: { values: curves.lines.filter((p) => p.status === "running") },  // each epoch of a run in training
          mark: { type: "point", filled: true, color: "#ff7f0e", size: 30 },
          encoding: { x: { field: "epoch", type: "quantitative", axis }, y: { field: "value", type: "quantitative" },
                      tooltip: [{ field: "run_id" }, { field: "epoch" }, { field: "value" }, { field: "status" }] } },
        { data: { values: curves.stops },
          mark: { type: "point", shape: "cross", color: "black", size: 60 },
          encoding: { x: { field: "epoch", type: "quantitative", axis }, y: { field: "value", type: "quantitative" },
                      tooltip: [{ field: "run_id" }, { field: "why" }] } },
      ],
    };
  }

  function progressSpec(points, x, title) {
    return {
      width: WIDTH / 2 - 20, height: 220, data: { values: points },
      layer: [
        { mark: { type: "line", interpolate: "step-after", color: "#d62728" },
          encoding: { x: { field: x, type: "quantitative", title }, y: { field: "best_so_far", type: "quantitative",
                      title: "best val acc so far", scale: { zero: false } } } },
        { mark: { type: "point", filled: true },
          encoding: { x: { field: x, type: "quantitative" }, y: { field: "val_acc", type: "quantitative" },
                      color: { field: "origin", type: "nominal", title: "proposed by" },
                      tooltip: [{ field: "run_id" }, { field: "val_acc" }, { field: "origin" }] } },
      ],
    };
  }

  // Parallel coordinates over the varied hyperparameters (positions from the report's own encoding), and one
  // slice plot per hyperparameter; a brush on any slice (drag, or click a category) keeps the runs inside every
  // brush coloured in the parallel coordinates.
  function parallelSpec(parallel) {
    const names = parallel.names;
    const brushes = names.map((k, i) => ({ name: `brush${i}`, k }));
    const inside = { and: brushes.map((b) => ({ param: b.name, empty: true })) };
    const categorical = (k) => parallel.categorical.includes(k);
    const ticks = names.flatMap((k) => parallel.ticks[k].map(([at, text]) => ({ key: k, at, text })));
    const coordinates = {
      width: WIDTH, height: 300,
      layer: [
        { data: { values: parallel.rows },
          transform: [{ fold: names.map((k) => `${k}_at`), as: ["axis", "position"] },
                      { calculate: "replace(datum.axis, /_at$/, '')", as: "hyperparameter" }],
          mark: { type: "line", strokeWidth: 1 },
          encoding: { x: { field: "hyperparameter", type: "nominal", sort: names, title: null },
                      y: { field: "position", type: "quantitative", axis: null },
                      detail: { field: "run_id" },
                      color: { condition: { test: inside, field: "val_acc", type: "quantitative",
                                            scale: { scheme: "viridis" }, title: "val acc" }, value: "#ddd" },
                      opacity: { condition: { test: inside, value: 0.8 }, value: 0.2 },
                      tooltip: [{ field: "run_id" }, { field: "val_acc" }, ...names.map((k) => ({ field: k }))] } },
        { data: { values: ticks },
          mark: { type: "text", align: "left", dx: 3, fontSize: 10 },
          encoding: { x: { field: "key", type: "nominal", sort: names }, y: { field: "at", type: "quantitative" },
                      text: { field: "text" } } },
      ],
    };
    const slices = brushes.map(({ name, k }) => ({
      width: 180, height: 150, data: { values: parallel.rows },
      params: [{ name, select: categorical(k) ? { type: "point", fields: [k] } : { type: "interval", encodings: ["x"] } }],
      mark: { type: "point", filled: true, size: 25 },
      encoding: { x: categorical(k) ? { field: k, type: "ordinal" }
                                    : { field: k, type: "quantitative", scale: { type: parallel.log.includes(k) ? "log" : "linear" } },
                  y: { field: "val_acc", type: "quantitative", scale: { zero: false }, title: "val acc" },
                  color: { condition: { test: inside, value: "#4c78a8" }, value: "#ddd" },
                  tooltip: [{ field: "run_id" }, { field: k }, { field: "val_acc" }] },
    }));
    return { vconcat: [coordinates, { columns: 3, concat: slices }], resolve: { scale: { color: "independent" } } };
  }

  function bestRuns(table) {
    const head = document.querySelector("#best-runs thead"), body = document.querySelector("#best-runs tbody");
    const columns = ["id", "status", "val_acc", "test_acc", "epochs_done", "origin", ...table.options];
    head.innerHTML = "<tr><th>pick</th>" + columns.map((c) => `<th>${c}</th>`).join("") + "</tr>";
    body.innerHTML = "";
    for (const r of table.runs) {
      const row = body.insertRow();
      row.dataset.run = r.id;
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = r.id;
      row.insertCell().appendChild(box);
      columns.forEach((c) => cell(row, number(r[c]), c === "id" ? `/-/run/${r.id}` : null));
    }
    setText("best-runs-note", `The best ${table.runs.length} of ${table.total} runs by validation accuracy.`);
  }

  function sweep() {
    const name = main.dataset.sweep;
    const metric = document.getElementById("curve-metric");
    const load = () => getJSON(`/-/api/sweep/${encodeURIComponent(name)}.json?metric=${metric.value}`);
    follow(summary, (rows) => {
      const r = rows.find((row) => row.sweep === name);
      setText("sweep-counts", r ? `${r.runs} runs: ${r.finished} finished, ${r.stopped} stopped, ${r.running} ` +
              `running, ${r.failed} failed, ${r.diverged} diverged; best val acc ${number(r.best_val_acc)}; ` +
              `${r.epochs} epochs` + (r.minutes === null ? "." : ` in ${r.minutes} minutes of training.`)
              : "No runs in this sweep yet.");
    });
    follow(load, async (s) => {
      await draw("curves", curvesSpec(s.curves));
      setText("curves-note", `${s.curves.shown} of ${s.curves.total} runs drawn as lines (${s.curves.chosen}); ` +
              `the grey band is the range of all ${s.curves.total} at each epoch; a cross marks where early ` +
              `termination stopped a run.` + (s.best ? ` The best run, ${s.best.id}, is red.` : ""));
      await draw("progress-epochs", progressSpec(s.progress, "epochs", "epochs spent"));
      await draw("progress-time", progressSpec(s.progress, "minutes", "minutes since the first run began"));
      const inFlight = s.in_flight.map((r) => `${r.id} (${r.epochs_done || 0} epochs so far)`);
      setText("in-flight", inFlight.length ? `Training now, drawn in orange: run${inFlight.length === 1 ? "" : "s"} ` +
                                             `${inFlight.join(", ")}.` : "Nothing is training now.");
      if (s.parallel.names.length) {
        await draw("parallel", parallelSpec(s.parallel));
        setText("parallel-note", `${s.parallel.shown} of ${s.parallel.total} evaluated runs (${s.parallel.chosen}). ` +
                "Drag across a slice plot, or click a category, to brush: the runs inside every brush keep " +
                "their colour.");
      } else {
        setText("parallel-note", "No hyperparameter varies across this sweep's evaluated runs yet.");
      }
      bestRuns(s.best_runs);
    });
    // importance is refitted beside the server: each answer is its newest fit, and says whether it is current
    follow(() => getJSON(`/-/api/importance/${encodeURIComponent(name)}.json`), async (importance) => {
      if (importance.rows.length) {
        await draw("importance", {
          width: WIDTH / 2, data: { values: importance.rows },
          mark: "bar",
          encoding: { y: { field: "parameter", type: "nominal", sort: "-x", title: null },
                      x: { field: "importance", type: "quantitative", title: "mean drop in R² when shuffled" },
                      tooltip: [{ field: "parameter" }, { field: "importance" }, { field: "std" }] } });
      }
      const fitted = importance.error ? importance.error
        : importance.rows.length ? `Method: ${importance.method}; fitted on ${importance.runs} runs.`
        : importance.current ? "Too few evaluated runs to rank yet." : "";
      setText("importance-note", fitted + (importance.current ? "" : " Fitting the newest runs…"));
    });
    metric.addEventListener("change", async () => {
      const s = await load();
      await draw("curves", curvesSpec(s.curves));
    });
    document.getElementById("compare-selected").addEventListener("click", () => {
      const ids = [...document.querySelectorAll("#best-runs input:checked")].map((b) => b.value);
      if (ids.length) location.href = `/-/compare?ids=${ids.join(",")}`;
    });
  }

  // -- a run -------------------------------------------------------------------------------------
  function epochChart(epochs, metrics, title) {
    const axis = epochAxis(epochs);
    const rows = epochs.flatMap((e) => metrics.map((m) => ({ epoch: e.epoch, metric: m, value: e[m] })));
    return { width: WIDTH / 2 - 20, height: 220, data: { values: rows }, title,
             mark: { type: "line", point: true },
             encoding: { x: { field: "epoch", type: "quantitative", axis },
                         y: { field: "value", type: "quantitative", scale: { zero: false }, title: null },
                         color: { field: "metric", type: "nominal" } } };
  }

  function run() {
    // a run in training gains its epochs; an ended one changes no more
    follow(() => getJSON(`/-/api/run/${main.dataset.run}.json`), showRun, (r) => r.run.status !== "running");
  }

  async function showRun(r) {
    const facts = document.querySelector("#run-facts tbody");
    facts.innerHTML = "";
    const shown = [["sweep", r.run.sweep, `/-/sweep/${encodeURIComponent(r.run.sweep)}`], ["status", r.run.status],
                   ["proposed", r.run.proposal || r.origin], ["why it ended", r.run.error],
                   ["epochs", r.run.epochs_done], ["seconds", number(r.run.seconds, 1)],
                   ["val acc", number(r.run.val_acc)], ["test acc", number(r.run.test_acc)],
                   ["test f1", number(r.run.test_f1)], ["weights", r.run.weights_path || "none kept in this store"],
                   ["weights SHA-256", r.run.weights_sha256], ["probes", r.run.probe_path || "none kept in this store"]];
    for (const [label, value, link] of shown) {
      const row = facts.insertRow();
      cell(row, label);
      cell(row, value, link);
    }
    const config = document.querySelector("#run-config tbody");
    config.innerHTML = "";
    for (const [k, v] of Object.entries(r.run.config)) {
      const row = config.insertRow();
      cell(row, k);
      cell(row, JSON.stringify(v));
    }
    if (r.epochs.length) {
      await draw("run-accuracy", epochChart(r.epochs, ["train_acc", "val_acc"], "accuracy"));
      await draw("run-loss", epochChart(r.epochs, ["train_loss", "val_loss"], "loss"));
      await draw("run-times", { width: WIDTH, height: 120, data: { values: r.epochs }, title: "seconds per epoch",
                                mark: "bar", encoding: { x: { field: "epoch", type: "ordinal" },
                                                         y: { field: "seconds", type: "quantitative" } } });
    }
    const c = r.confusion;
    if (c) {
      await draw("run-confusion", { width: 300, height: 300, data: { values: c.cells },
                                    encoding: { x: { field: "predicted", type: "ordinal" },
                                                y: { field: "true", type: "ordinal" } },
                                    layer: [{ mark: "rect", encoding: { color: { field: "count", type: "quantitative",
                                                                                 scale: { type: "symlog" } },
                                                                        tooltip: [{ field: "true" }, { field: "predicted" },
                                                                                  { field: "count" }] } },
                                            { mark: { type: "text", fontSize: 9 },
                                              encoding: { text: { field: "count" } } }] });
    }
    setText("run-confusion-note", c ? `On the ${c.images} validation images the probe keeps (never the test split).`
                                    : r.run.probe_path ? "This run's probe file has no predictions (it was trained " +
                                                         "before they were kept)."
                                                       : "No probe file is kept for this run in this store.");
    const g = r.grad_norms;
    if (g && g.rows) {
      await draw("run-gradients", { width: WIDTH, height: 220, data: { values: g.rows },
                                    mark: { type: "line", strokeWidth: 1 },
                                    encoding: { x: { field: "step", type: "quantitative" },
                                                y: { field: "norm", type: "quantitative", scale: { type: "log" } },
                                                color: { field: "layer", type: "nominal", title: "hidden layer" } } });
      setText("run-gradients-note", g.every > 1 ? `Every ${g.every}th step.` : "Every step.");
    } else {
      setText("run-gradients-note", g && g.missing ? g.missing : "No probe file is kept for this run in this store.");
    }
  }

  // -- runs side by side -------------------------------------------------------------------------
  function table(id, ids, rows, label, values) {
    const head = document.querySelector(`#${id} thead`), body = document.querySelector(`#${id} tbody`);
    head.innerHTML = `<tr><th>${label}</th>` + ids.map((i) => `<th><a href="/-/run/${i}">run ${i}</a></th>`).join("") + "</tr>";
    body.innerHTML = "";
    for (const r of rows) {
      const row = body.insertRow();
      if (r.same) row.className = "same";
      cell(row, values(r).name);
      for (const v of values(r).values) {
        const td = cell(row, typeof v === "object" && v !== null ? JSON.stringify(v) : number(v));
        if (r.same === false) td.classList.add("differs");
      }
    }
  }

  async function compare() {
    const ids = main.dataset.ids;
    const body = document.getElementById("compare-body");
    if (!ids) {
      body.hidden = true;
      return;
    }
    const c = await getJSON(`/-/api/compare.json?ids=${ids}`);
    setText("compare-missing", c.missing.length ? `No run with id ${c.missing.join(", ")} in this store.` : "");
    table("compare-options", c.ids, c.options, "option", (r) => ({ name: r.option, values: r.values }));
    table("compare-metrics", c.ids, c.metrics, "metric", (r) => ({ name: r.metric, values: r.values }));
    const only = document.getElementById("differences-only");
    only.addEventListener("change", () => body.classList.toggle("differences-only", only.checked));
    const metric = document.getElementById("compare-metric");
    const axis = epochAxis(c.curves);
    const curves = () => draw("compare-curves", {
      width: WIDTH, height: 300, data: { values: c.curves.filter((p) => p.metric === metric.value) },
      mark: { type: "line", point: true },
      encoding: { x: { field: "epoch", type: "quantitative", axis },
                  y: { field: "value", type: "quantitative", scale: { zero: false }, title: metric.value },
                  color: { field: "run_id", type: "nominal", title: "run" } } });
    metric.addEventListener("change", curves);
    await curves();
  }

  ({ home, sweep, run, compare })[page]();
})();
