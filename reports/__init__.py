"""The analysis report and the best-model export, built from the run store.

``python -m reports 2.3`` builds one section (training only what the store
lacks of its sweep), ``python -m reports all`` every section, into one local
HTML page; ``python -m reports.export`` writes best_model.npy and
best_config.json from the run with the highest test F1.
"""
