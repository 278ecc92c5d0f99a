"""Batch tracking: many videos, unattended, resumable, parallel and shardable (`siamtrack batch`).

Library use:
    from tracker.batch.manifest import load_items
    from tracker.batch.options import BatchOptions
    from tracker.batch.runner import run_batch
    result = run_batch(load_items("clips.csv"), BatchOptions(out_dir="results", model="opencv:kcf"), workers=2)
"""
