"""`siamtrack gui`: the PyQt6 desktop application.

Modules:
- `frames`   — thread-safe latest-frame mailbox (frame dropping) and rate meters; no Qt.
- `session`  — one tracking session: the targets of one MultiTracker, results stored per frame; no Qt.
- `models`   — what the model / device / xcorr selectors offer.
- `pipeline` — capture thread + tracking QThread feeding the window.
- `video_widget` — the video view: the targets' overlay, rubber-band boxes, clicks that select a target.
- `window`   — the main window, dialogs, settings.
- `app`      — starting the application, and the headless smoke mode.
- (`tracker.cli.gui` — argument parsing for `siamtrack gui`, light imports only.)
"""
