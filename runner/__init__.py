"""Joins the network and the store: one training job, sweep expansion and the joblib fan-out."""
