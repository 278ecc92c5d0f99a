"""`siamtrack gui`: the PyQt6 desktop application.

Modules (no Qt in `frames` and `session`):
- `frames`   — thread-safe latest-frame mailbox (frame dropping) and rate meters.
- `session`  — one tracking session: the targets of one MultiTracker, results stored per frame index.
- `models`   — what the model / device / xcorr selectors offer.
- `capture`  — the capture thread reading the source, and the play / pause / step flags it obeys.
- `packet`   — the per-frame packet the pipeline hands the window, and its latest-wins slot.
- `recording` — the annotated video recording.
- `pipeline` — the tracking QThread feeding the window.
- `video_widget` — the video view: the targets' overlay, rubber-band boxes, clicks that select a target.
- `dialogs`  — the keyboard-shortcut list and the camera chooser.
- the main window, in parts: `window_base` (what the parts share), `actions` (the action table: menus,
  toolbar, F1 list), `opening` (sources), `playback` (play, step, frames shown), `targets` (draw, select,
  delete, correct), `exporting` (recording, boxes, annotations), `model_bar` (model choosers), and `window`
  (`MainWindow`, putting them together).
- `app`      — starting the application, and the headless smoke mode.
- (`tracker.cli.gui` — argument parsing for `siamtrack gui`, light imports only.)
"""
