"""Starting the window: interactively, or headless for N frames with a screenshot (the smoke mode)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ..errors import UserError


def _application(headless: bool):
    if headless and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PyQt6.QtWidgets import QApplication

    if headless:
        _quiet_offscreen_warnings()
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "siamtrack", "-name", "siamtrack"])
        app.setApplicationName("siamtrack")
        app.setOrganizationName("siamtrack")
    return app


def _quiet_offscreen_warnings() -> None:
    """The offscreen platform warns about window features it lacks; that is noise in the smoke mode."""
    from PyQt6.QtCore import qInstallMessageHandler

    def handler(mode, context, message):
        if "does not support propagateSizeHints" in message:
            return
        sys.stderr.write(message + "\n")

    qInstallMessageHandler(handler)


def _settings(args):
    from PyQt6.QtCore import QSettings

    if getattr(args, "settings", None):
        return QSettings(args.settings, QSettings.Format.IniFormat)
    return None


def _apply_options(win, args) -> None:
    from .models import ModelChoice

    if args.device:
        i = win.device_combo.findText(args.device)
        if i < 0:
            win.device_combo.addItem(args.device)  # let the model say whether it exists
            i = win.device_combo.count() - 1
        win.device_combo.setCurrentIndex(i)
    if args.xcorr:
        i = win.xcorr_combo.findText(args.xcorr)
        if i < 0:
            win.xcorr_combo.addItem(args.xcorr)
            i = win.xcorr_combo.count() - 1
        win.xcorr_combo.setCurrentIndex(i)
    if args.model:
        win.select_model(ModelChoice(args.model, args.weights))
    elif args.weights:
        current = win.current_model()
        win.select_model(ModelChoice(current.name if current else "siamrpn_alex_dwxcorr", args.weights))
    if args.trail:
        win.trail_check.setChecked(True)


def wait_until(app, predicate, timeout: float) -> bool:
    from PyQt6.QtCore import QEventLoop

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.002)
    return True


def _close_on_signals(app, win) -> None:
    """Ctrl-C / SIGTERM close the window properly (the recording is finalised, settings saved). Python only
    sees signals when it runs, so a timer hands it control a few times a second."""
    import signal

    from PyQt6.QtCore import QTimer

    def close(*_):
        win.close()
        app.quit()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, close)
        except (ValueError, OSError):  # not the main thread / not supported
            pass
    timer = QTimer(win)
    timer.timeout.connect(lambda: None)
    timer.start(200)


def run_interactive(args, inits: list) -> int:
    app = _application(False)
    from .window import MainWindow

    win = MainWindow(settings=_settings(args))
    _apply_options(win, args)
    win.show()
    _close_on_signals(app, win)
    win.export_on_close = args.export
    if args.source and win.open_path(args.source, paused=bool(inits)):
        if (
            (inits or args.record)
            and wait_until(app, lambda: win.latest is not None or bool(win.errors), 30)
            and win.latest is not None
        ):
            if args.record:
                win.start_recording(args.record)
            if inits:
                for box in inits:  # each a new target (nothing is selected yet)
                    win.init_tracking(box)
                win.play()
    return app.exec()


def run_headless(args, inits: list) -> int:
    """Open the source in the real window offscreen, track the boxes `inits` from the first frame for args.frames
    frames, save a screenshot of the whole window (and optionally the recording and boxes), exit."""
    app = _application(True)
    from .window import MainWindow

    win = MainWindow(settings=_settings(args), persist=False)
    _apply_options(win, args)
    win.resize(1100, 760)
    win.show()
    pipeline = win.pipeline
    pipeline.playback.pace = False  # as fast as the tracker goes, every frame (no dropping)
    pipeline.playback.realtime = False
    pipeline.playback.limit = args.frames - 1
    deadline = time.monotonic() + args.timeout

    def left() -> float:
        return max(0.0, deadline - time.monotonic())

    problems: list[str] = []
    try:
        if not win.open_path(args.source):
            raise UserError(win.errors[-1])
        if not wait_until(app, lambda: win.latest is not None or bool(win.errors), left()):
            problems.append(f"timed out waiting for the first frame of {args.source}")
        if win.latest is not None:
            if args.record:
                win.start_recording(args.record)
                wait_until(app, lambda: win.recording_path is not None or bool(win.errors), left())
            for box in inits:  # each a new target (nothing is selected yet)
                win.init_tracking(box)
            if inits:
                wait_until(app, lambda: win.tracking or bool(win.errors), left())
            if not win.errors:
                win.play()
                target = args.frames - 1

                def done() -> bool:
                    return (
                        (
                            win.latest is not None
                            and win.latest.index >= target
                            and (win.latest.tracking or not win.tracking)
                        )
                        or pipeline.at_end
                        or bool(win.errors)
                    )

                if not wait_until(app, done, left()):
                    problems.append(
                        f"timed out after {args.timeout:g} s at frame "
                        f"{win.latest.index + 1 if win.latest else 0} of {args.frames}"
                    )
                if pipeline.at_end and win.latest is not None and win.latest.index < target:
                    print(f"siamtrack gui: {args.source} ended after {win.latest.index + 1} frames", file=sys.stderr)
        wait_until(app, lambda: False, 0.3)  # let the last frame and the status bar paint
        if args.export:
            if win.export_boxes(args.export) == 0 and not win.errors:
                problems.append("no boxes to export (was --init given?)")
        if args.record and win.recording_path is not None:
            win.stop_recording()
            wait_until(app, lambda: win.recording_path is None, 10)
        win._on_frame()
        shot = win.grab()
        Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True) if args.screenshot else None
        if args.screenshot and not shot.save(str(args.screenshot)):
            problems.append(f"{args.screenshot}: cannot save the screenshot")
        latest = win.latest
        if latest is not None:
            state = ("lost" if latest.result and latest.result.lost else "tracked") if latest.tracking else "shown"
            box = ",".join(f"{v:.1f}" for v in latest.result.box) if latest.result else "-"
            what = f"{state} box {box}"
            if len(latest.results) > 1:  # several targets: each id's box and state
                what = " ".join(
                    f"#{i} {'lost' if r.lost else 'tracked'} {','.join(f'{v:.1f}' for v in r.box)}"
                    for i, r in latest.results.items()
                )
            print(
                f"frame {latest.index + 1}: {what}; processed {latest.processed}, "
                f"dropped {latest.dropped}, track {latest.track_fps:.1f} fps"
                + (f"; screenshot {args.screenshot}" if args.screenshot else "")
            )
    finally:
        errors = list(win.errors)
        win.close()
    for message in errors + problems:
        print(f"siamtrack gui: error: {message}", file=sys.stderr)
    return 2 if (errors or problems) else 0
