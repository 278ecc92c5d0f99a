"""`siamtrack bench`: datasets (OTB, VOT, GOT-10k, generic), the community's protocols and metrics, raw
results in the community's layout, tables and plots. The CLI lives in `tracker.cli.bench`."""
