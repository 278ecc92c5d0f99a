"""The main window: sources, playback and stepping, targets (draw, select, delete, correct), model selection,
overlay stats, recording, export of boxes and annotations."""

from __future__ import annotations

import os
from pathlib import Path

from PyQt6.QtCore import QSettings, Qt, QTimer
from PyQt6.QtGui import QAction, QColor, QKeySequence, QPalette
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QPushButton,
    QStyle,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from ..trackers.base import TrackerError, validate_box
from .dialogs import RESOLUTIONS, CameraDialog, HelpDialog
from .frames import RateMeter
from .models import (
    ModelChoice,
    available_devices,
    available_xcorr_backends,
    choice_for_file,
    list_all_presets,
    model_choices,
)
from .packet import FramePacket
from .pipeline import Pipeline
from .video_widget import VideoWidget

MAX_RECENT = 8
VIDEO_FILTER = "Videos (*.mp4 *.avi *.mov *.mkv *.m4v *.webm *.mpg *.mpeg *.wmv);;All files (*)"


def settings_from_env() -> QSettings:
    path = os.environ.get("SIAMTRACK_GUI_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("siamtrack", "siamtrack-gui")


class MainWindow(QMainWindow):
    def __init__(self, settings: QSettings | None = None, tracker_factory=None, persist: bool = True, parent=None):
        super().__init__(parent)
        self.settings = settings if settings is not None else settings_from_env()
        self.persist = persist
        self.errors: list[str] = []  # every error shown, newest last (automation reads it)
        self.source_label = ""
        self.is_camera = False
        self.tracking = False
        self.recording_path: str | None = None
        self.last_box: tuple[float, float, float, float] | None = None
        self.selected: int | None = None  # the selected target: a new box corrects it, Delete removes it
        self.shown: FramePacket | None = None  # the packet on screen (a selection initialises on its frame)
        self.latest: FramePacket | None = None  # the newest packet received
        self._frozen = False  # display held still while a box is being drawn
        self._resume_after_select = False  # a playing file was paused for a selection
        self.display_rate = RateMeter()
        self._help: HelpDialog | None = None
        self.export_on_close: str | None = None  # --export: write the boxes when the window closes

        self.setWindowTitle("siamtrack")
        self.setAcceptDrops(True)
        self.pipeline = Pipeline(tracker_factory)
        self.pipeline.playback.realtime = self.settings.value("playback/realtime", False, type=bool)

        self._build_actions()
        self._build_ui()
        self._restore_settings()
        self._wire()
        self.pipeline.start()
        self._apply_model()

        self._ui_timer = QTimer(self)
        self._ui_timer.timeout.connect(self._refresh_controls)
        self._ui_timer.start(200)
        self._refresh_controls()

    # ---- construction ------------------------------------------------------------------------------------------
    def _action(self, text, shortcut=None, slot=None, checkable=False, icon=None, tip=None) -> QAction:
        """A window action; `shortcut` is a key or a list of keys (each listed under F1)."""
        act = QAction(text, self)
        keys = [shortcut] if isinstance(shortcut, str) else list(shortcut or [])
        if keys:
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if icon is not None:
            act.setIcon(self.style().standardIcon(icon))
        act.setCheckable(checkable)
        if tip:
            act.setToolTip(f"{tip} ({' or '.join(keys)})" if keys else tip)
        if slot is not None:
            act.triggered.connect(slot)
        self.addAction(act)
        return act

    def _build_actions(self) -> None:
        sp = QStyle.StandardPixmap
        a = self._action
        self.act_open = a(
            "&Open video...", "Ctrl+O", self.open_video_dialog, icon=sp.SP_DialogOpenButton, tip="Open a video file"
        )
        self.act_open_folder = a(
            "Open image &folder...",
            "Ctrl+Shift+O",
            self.open_folder_dialog,
            icon=sp.SP_DirOpenIcon,
            tip="Open a folder of images",
        )
        self.act_open_camera = a(
            "Open &camera...", "Ctrl+K", self.open_camera_dialog, icon=sp.SP_ComputerIcon, tip="Open a webcam"
        )
        self.act_play = a("&Play / pause", "Space", self.toggle_play, icon=sp.SP_MediaPlay, tip="Play or pause")
        self.act_step = a(
            "Step &forward",
            ["Right", "."],
            self.step_forward,
            icon=sp.SP_MediaSeekForward,
            tip="Show the next frame (tracked, or its stored boxes)",
        )
        self.act_step_back = a(
            "Step &back",
            ["Left", ","],
            self.step_back,
            icon=sp.SP_MediaSeekBackward,
            tip="Show the previous frame with its stored boxes",
        )
        self.act_select = a(
            "&Draw target box",
            "S",
            self.enter_select_mode,
            icon=sp.SP_ArrowDown,
            tip="Draw a box with the mouse: a new target, or a correction of the selected one",
        )
        self.act_start = a(
            "S&tart tracking",
            "Return",
            self.start_tracking,
            icon=sp.SP_MediaPlay,
            tip="Start tracking the last drawn box (or draw one)",
        )
        self.act_next_target = a(
            "Select &next target", "N", self.select_next_target, tip="Select the next target on this frame"
        )
        self.act_delete_target = a(
            "&Delete selected target",
            ["Delete", "Backspace"],
            self.delete_selected_target,
            tip="Stop the selected target on this frame (its earlier boxes stay)",
        )
        self.act_stop = a("St&op tracking", "X", self.stop_tracking, icon=sp.SP_MediaStop, tip="Stop tracking")
        self.act_reset = a(
            "&Reset tracking",
            "R",
            self.reset_tracking,
            icon=sp.SP_BrowserReload,
            tip="Stop tracking and clear the box, trail and boxes",
        )
        self.act_cancel = a(
            "&Cancel drawing / selection",
            "Escape",
            self.cancel_selection,
            tip="Cancel the box being drawn, or the selection",
        )
        self.act_record = a(
            "&Record video...",
            "Ctrl+R",
            self.toggle_recording,
            checkable=True,
            icon=sp.SP_DialogSaveButton,
            tip="Record the annotated video",
        )
        self.act_export = a(
            "&Export boxes...",
            "Ctrl+E",
            self.export_boxes_dialog,
            tip="Save the tracked boxes (x,y,w,h per frame; the MOT layout for several targets)",
        )
        self.act_export_annotations = a(
            "Export &annotations...",
            "Ctrl+Shift+E",
            self.export_annotations_dialog,
            tip="Save every target's boxes into a folder: MOT gt.txt, an x,y,w,h file per target, CVAT for video XML",
        )
        self.act_model_file = a(
            "Load &model from file...",
            "Ctrl+M",
            self.load_model_dialog,
            tip="A checkpoint (.pth) or a pysot config (.yaml)",
        )
        self.act_trail = a("Show &trail", "T", None, checkable=True, tip="Draw the target's recent path")
        self.act_realtime = a(
            "Real-time &playback (drop frames)",
            None,
            None,
            checkable=True,
            tip="Files play at their own speed and frames the tracker cannot keep up with "
            "are dropped (cameras always do this)",
        )
        self.act_help = a("&Keyboard shortcuts", "F1", self.show_help, icon=sp.SP_DialogHelpButton)
        self.act_quit = a("&Quit", "Ctrl+Q", self.close)

    def _build_ui(self) -> None:
        self._build_menus()
        self._build_main_toolbar()
        self.addToolBarBreak()
        self._build_model_toolbar()
        self._build_central()
        self._build_status_bar()

    def _build_menus(self) -> None:
        mb = self.menuBar()
        m = mb.addMenu("&File")
        for act in (self.act_open, self.act_open_folder, self.act_open_camera):
            m.addAction(act)
        self.recent_menu = m.addMenu("Open &recent")
        m.addSeparator()
        m.addAction(self.act_record)
        m.addAction(self.act_export)
        m.addAction(self.act_export_annotations)
        m.addSeparator()
        m.addAction(self.act_quit)
        m = mb.addMenu("&Playback")
        for act in (self.act_play, self.act_step, self.act_step_back, self.act_realtime):
            m.addAction(act)
        m = mb.addMenu("&Tracking")
        for act in (
            self.act_select,
            self.act_next_target,
            self.act_delete_target,
            self.act_cancel,
            self.act_start,
            self.act_stop,
            self.act_reset,
        ):
            m.addAction(act)
        m.addSeparator()
        m.addAction(self.act_model_file)
        m = mb.addMenu("&View")
        m.addAction(self.act_trail)
        m = mb.addMenu("&Help")
        m.addAction(self.act_help)

    def _build_main_toolbar(self) -> None:
        tb = QToolBar("Main", self)
        tb.setObjectName("main-toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for act in (self.act_open, self.act_play, self.act_step):
            tb.addAction(act)
        tb.addSeparator()
        for act in (self.act_select, self.act_stop, self.act_reset):
            tb.addAction(act)
        tb.addSeparator()
        tb.addAction(self.act_record)
        self.addToolBar(tb)

    def _build_model_toolbar(self) -> None:
        """Model, device and xcorr choosers and the trail switch, on a second toolbar row."""
        tb2 = QToolBar("Model", self)
        tb2.setObjectName("model-toolbar")
        tb2.setMovable(False)
        tb2.addWidget(QLabel(" Model "))
        self.model_combo = QComboBox()
        self.model_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.model_combo.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        tb2.addWidget(self.model_combo)
        tb2.addWidget(QLabel("  Device "))
        self.device_combo = QComboBox()
        self.device_combo.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        tb2.addWidget(self.device_combo)
        self.xcorr_label = QLabel("  Xcorr ")
        tb2.addWidget(self.xcorr_label)
        self.xcorr_combo = QComboBox()
        self.xcorr_combo.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        tb2.addWidget(self.xcorr_combo)
        tb2.addSeparator()
        self.trail_check = QCheckBox("Trail")
        self.trail_check.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        tb2.addWidget(self.trail_check)
        self.addToolBar(tb2)

        for choice in model_choices():
            self.model_combo.addItem(choice.display, choice)
        for d in available_devices():
            self.device_combo.addItem(d)
        for x in available_xcorr_backends():
            self.xcorr_combo.addItem(x)

    def _build_central(self) -> None:
        """The error banner (hidden until an error) above the video."""
        central = QWidget(self)
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        self.banner = self._build_error_banner(central)
        self.video = VideoWidget(central)
        lay.addWidget(self.banner)
        lay.addWidget(self.video, 1)
        self.setCentralWidget(central)
        self.video.setFocus()

    def _build_error_banner(self, parent: QWidget) -> QWidget:
        """A dark red strip with the error's text (selectable) and a Dismiss button; hidden."""
        banner = QWidget(parent)
        bl = QHBoxLayout(banner)
        bl.setContentsMargins(8, 4, 8, 4)
        self.banner_label = QLabel()
        self.banner_label.setWordWrap(True)
        self.banner_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton("Dismiss")
        close.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        close.clicked.connect(self.dismiss_error)
        bl.addWidget(self.banner_label, 1)
        bl.addWidget(close)
        banner.setAutoFillBackground(True)
        pal = banner.palette()
        pal.setColor(QPalette.ColorRole.Window, QColor(150, 30, 30))
        pal.setColor(QPalette.ColorRole.WindowText, QColor(255, 255, 255))
        banner.setPalette(pal)
        self.banner_label.setPalette(pal)
        banner.hide()
        return banner

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.state_label = QLabel("idle")
        self.frame_label = QLabel("no source")
        self.fps_label = QLabel("track - fps | display - fps")
        self.dropped_label = QLabel("dropped 0")
        self.model_label = QLabel()
        for w in (self.state_label, self.frame_label, self.fps_label, self.dropped_label, self.model_label):
            w.setContentsMargins(6, 0, 6, 0)
            sb.addPermanentWidget(w)

    def _wire(self) -> None:
        p = self.pipeline
        p.frameReady.connect(self._on_frame)
        p.error.connect(self.show_error)
        p.info.connect(lambda msg: self.statusBar().showMessage(msg, 5000))
        p.trackingChanged.connect(self._on_tracking_changed)
        p.recordingChanged.connect(self._on_recording_changed)
        p.modelReady.connect(self._on_model_ready)
        self.video.selectionStarted.connect(self._on_selection_started)
        self.video.selectionCancelled.connect(self._on_selection_cancelled)
        self.video.boxSelected.connect(self._on_box_selected)
        self.video.clicked.connect(self._on_clicked)
        self.model_combo.currentIndexChanged.connect(lambda _: self._apply_model())
        self.device_combo.currentIndexChanged.connect(lambda _: self._apply_model())
        self.xcorr_combo.currentIndexChanged.connect(lambda _: self._apply_model())
        self.trail_check.toggled.connect(self._on_trail)
        self.act_trail.toggled.connect(self.trail_check.setChecked)
        self.trail_check.toggled.connect(self.act_trail.setChecked)
        self.act_realtime.toggled.connect(self._on_realtime)

    # ---- settings --------------------------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self.settings
        name = s.value("model/name", "", type=str)
        weights = s.value("model/weights", "", type=str) or None
        if name:
            self.select_model(ModelChoice(name, weights), apply=False)
        for combo, key in ((self.device_combo, "device"), (self.xcorr_combo, "xcorr")):
            value = s.value(key, "", type=str)
            i = combo.findText(value) if value else -1
            if i >= 0:
                combo.setCurrentIndex(i)
        trail = s.value("view/trail", False, type=bool)
        self.trail_check.setChecked(trail)
        self.act_trail.setChecked(trail)
        self.pipeline.show_trail = trail
        self.act_realtime.setChecked(self.pipeline.playback.realtime)
        geometry = s.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1100, 760)
        self._rebuild_recent_menu()

    def _save(self, key: str, value) -> None:
        if self.persist:
            self.settings.setValue(key, value)

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(v) for v in (value or [])]

    def _add_recent(self, spec: str) -> None:
        items = [spec] + [r for r in self.recent_files() if r != spec]
        self._save("recent", items[:MAX_RECENT])
        self._rebuild_recent_menu()

    def _rebuild_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = self.recent_files()
        for spec in recent:
            act = self.recent_menu.addAction(spec)
            act.triggered.connect(lambda _=False, s=spec: self.open_path(s))
        self.recent_menu.setEnabled(bool(recent))

    # ---- sources ------------------------------------------------------------------------------------------------
    def _last_dir(self) -> str:
        return self.settings.value("dirs/last", str(Path.home()), type=str)

    def open_video_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video", self._last_dir(), VIDEO_FILTER)
        if path:
            self.open_path(path)

    def open_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open image folder", self._last_dir())
        if path:
            self.open_path(path)

    def open_camera_dialog(self) -> None:
        dlg = CameraDialog(
            self,
            self.settings.value("camera/index", 0, type=int),
            self.settings.value("camera/resolution", RESOLUTIONS[0], type=str),
        )
        if dlg.exec() == QDialog.DialogCode.Accepted:
            index, resolution = dlg.selection()
            self._save("camera/index", index)
            self._save("camera/resolution", resolution)
            self.open_camera(index, resolution)

    def open_camera(self, index: int, resolution: str | None = None) -> bool:
        from ..io.sources import open_source

        try:
            source = open_source(int(index))
            if resolution and "x" in resolution and hasattr(source, "request_size"):
                w, h = (int(v) for v in resolution.split("x"))
                source.request_size(w, h)
        except Exception as exc:  # noqa: BLE001 - a camera that cannot open is shown to the user
            self.show_error(f"camera {index}: {exc}")
            return False
        self.set_source(source, f"camera {index}", paused=False)
        return True

    def open_path(self, spec: str, paused: bool = True) -> bool:
        """Open a video file or image folder (or a camera index given as digits). False + message on error."""
        from ..io.sources import open_source

        spec = str(spec)
        if spec.isdigit() and not os.path.exists(spec):
            return self.open_camera(int(spec))
        try:
            source = open_source(spec)
        except Exception as exc:  # noqa: BLE001 - SourceError names the file
            self.show_error(str(exc))
            return False
        self._save("dirs/last", str(Path(spec).resolve().parent))
        self._add_recent(str(Path(spec).resolve()))
        self.set_source(source, Path(spec).name, paused=paused)
        return True

    def set_source(self, source, label: str, paused: bool = True) -> None:
        """Show `source` (any FrameSource-like object: iterable of (index, frame), .spec, .fps...)."""
        self.dismiss_error()
        self.source_label = label
        self.is_camera = bool(getattr(source, "is_camera", False))
        self.shown = self.latest = None
        self.selected = None
        self._frozen = False
        self.video.cancel_selection()
        self.display_rate.reset()
        self.setWindowTitle(f"siamtrack - {label}")
        self.pipeline.set_source(source, paused=paused)
        size = getattr(source, "size", None)
        extra = f" {size[0]}x{size[1]}" if size else ""
        self.statusBar().showMessage(f"opened {label}{extra}", 4000)

    def dragEnterEvent(self, event):
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if any(u.isLocalFile() for u in urls):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event):
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.open_path(url.toLocalFile())
                event.acceptProposedAction()
                return

    # ---- playback ------------------------------------------------------------------------------------------------
    def toggle_play(self) -> None:
        if self.pipeline.source is None and self.latest is None:
            self.statusBar().showMessage("open a video, an image folder or a camera first", 4000)
            return
        if self.pipeline.paused or self.pipeline.at_end:
            self.play()
        else:
            self.pause()

    def play(self) -> None:
        self._frozen = False
        self.video.cancel_selection()
        self.pipeline.play()

    def pause(self) -> None:
        self.pipeline.pause()

    def step_forward(self) -> None:
        self.pipeline.step()

    def step_back(self) -> None:
        if self.is_camera:
            self.statusBar().showMessage("a camera cannot step back", 4000)
            return
        if self.latest is not None and self.latest.index > 0:
            self.pipeline.seek(self.latest.index - 1)

    def _on_realtime(self, on: bool) -> None:
        self.pipeline.playback.realtime = on
        self._save("playback/realtime", on)

    # ---- selection and tracking -------------------------------------------------------------------------------
    def enter_select_mode(self) -> None:
        if self.shown is None:
            self.statusBar().showMessage("nothing to select on yet: open a source first", 4000)
            return
        if not self.is_camera:
            self.pause()
        self._frozen = True  # a live camera holds still while the box is drawn
        self.video.select_mode = True
        self.video.update()
        self.video.setFocus()
        self.statusBar().showMessage("drag a box around the target; Esc cancels", 6000)

    def cancel_selection(self) -> None:
        """Esc: cancel the box being drawn, else clear the target selection."""
        if not (self.video.selecting or self.video.select_mode) and self.selected is not None:
            self.select_target(None)
            return
        self.video.cancel_selection()
        self._on_selection_cancelled()

    def _on_selection_started(self) -> None:
        self._frozen = True
        if not self.is_camera and not self.pipeline.paused:
            self.pause()  # a file waits while the box is drawn, then plays on
            self._resume_after_select = True

    def _on_selection_cancelled(self) -> None:
        if self._resume_after_select:
            self._resume_after_select = False
            self.pipeline.play()
        if self._frozen:
            self._frozen = False
            if self.latest is not None and self.latest is not self.shown:
                self._show(self.latest)
        self.statusBar().showMessage("selection cancelled", 2000)

    def _on_box_selected(self, x: float, y: float, w: float, h: float) -> None:
        packet = self.shown
        self._frozen = False
        if packet is None:
            return
        resume, self._resume_after_select = self._resume_after_select, False
        try:
            validate_box((x, y, w, h), packet.frame.shape)
        except TrackerError as exc:
            self.statusBar().showMessage(f"box refused: {exc}", 6000)
            if resume:
                self.pipeline.play()
            return
        self.last_box = (x, y, w, h)
        text = f"{x:.0f},{y:.0f},{w:.0f},{h:.0f}"
        if self.selected is not None:
            self.pipeline.correct_target(self.selected, self.last_box, packet.frame, packet.index)
            message = f"target #{self.selected} corrected on frame {packet.index}: box {text}"
        else:
            self.pipeline.add_target(self.last_box, packet.frame, packet.index)
            message = f"new target from frame {packet.index}: box {text}"
        if resume:
            self.pipeline.play()
        self.statusBar().showMessage(message, 4000)

    def init_tracking(self, box) -> None:
        """Track `box` (image pixels) from the frame on screen — what drawing a box does: a new target, or a
        correction of the selected one."""
        self._on_box_selected(*(float(v) for v in box))

    # ---- targets --------------------------------------------------------------------------------------------
    def target_ids(self) -> list[int]:
        """The targets with a box on the frame on screen, else every target with a stored box."""
        on_screen = list(self.shown.results) if self.shown is not None else []
        return on_screen or self.pipeline.session.ids

    def select_target(self, target_id: int | None) -> None:
        """Select a target (drawn highlighted; a new box corrects it, Delete removes it), or none."""
        self.selected = target_id
        self.video.set_selected(target_id)
        if target_id is None:
            self.statusBar().showMessage("no target selected: a new box adds a target", 3000)
        else:
            self.statusBar().showMessage(
                f"target #{target_id} selected: draw a box to correct it from this frame, Delete removes it", 5000
            )

    def _on_clicked(self, x: float, y: float) -> None:
        self.select_target(self.video.target_at(x, y))

    def select_next_target(self) -> None:
        ids = self.target_ids()
        if not ids:
            self.statusBar().showMessage("no targets yet: draw a box (S) to add one", 4000)
            return
        after = [i for i in ids if self.selected is not None and i > self.selected]
        self.select_target(after[0] if after else ids[0])

    def delete_selected_target(self) -> None:
        if self.selected is None or self.shown is None:
            self.statusBar().showMessage("select a target first (click its box, or N)", 4000)
            return
        target_id, index = self.selected, self.shown.index
        self.pipeline.remove_target(target_id, index)
        self.select_target(None)
        self.statusBar().showMessage(f"target #{target_id} removed from frame {index} on", 4000)

    def start_tracking(self) -> None:
        """Track the last drawn box again as a new target when nothing is tracked, else draw a box."""
        if self.last_box is not None and self.latest is not None and not self.tracking:
            self.pipeline.add_target(self.last_box, self.latest.frame, self.latest.index)
        else:
            self.enter_select_mode()

    def stop_tracking(self) -> None:
        self.pipeline.stop_tracking()

    def reset_tracking(self) -> None:
        self.video.cancel_selection()
        self._frozen = False
        self.selected = None
        self.video.set_selected(None)
        self.pipeline.reset_tracking()

    def _on_tracking_changed(self, on: bool) -> None:
        self.tracking = on
        self.act_stop.setEnabled(on)
        if not on:
            self.state_label.setText("idle")
            self.state_label.setStyleSheet("")

    # ---- models ---------------------------------------------------------------------------------------------
    def current_model(self) -> ModelChoice | None:
        return self.model_combo.currentData()

    def select_model(self, choice: ModelChoice, apply: bool = True) -> None:
        for i in range(self.model_combo.count()):
            if self.model_combo.itemData(i) == choice:
                break
        else:
            self.model_combo.addItem(choice.display, choice)
            i = self.model_combo.count() - 1
        self.model_combo.blockSignals(not apply)
        self.model_combo.setCurrentIndex(i)
        self.model_combo.blockSignals(False)

    def load_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Load model",
            self._last_dir(),
            "Checkpoints and pysot configs (*.pth *.pt *.yaml *.yml);;All files (*)",
        )
        if not path:
            return
        try:
            choice = choice_for_file(path)
        except ValueError:
            names = [p.name for p in list_all_presets()]
            if not names:
                self.show_error(f"{path}: a checkpoint needs a preset, and no presets are available")
                return
            name, ok = QInputDialog.getItem(
                self, "Preset for this checkpoint", f"Which preset does {Path(path).name} belong to?", names, 0, False
            )
            if not ok:
                return
            choice = choice_for_file(path, name)
        self.select_model(choice)

    def _apply_model(self) -> None:
        choice = self.current_model()
        if choice is None:
            return
        device, xcorr = self.device_combo.currentText(), self.xcorr_combo.currentText()
        self.device_combo.setEnabled(not choice.is_opencv)
        self._show_xcorr_applies(not choice.is_opencv)
        self._save("model/name", choice.name)
        self._save("model/weights", choice.weights or "")
        self._save("device", device)
        self._save("xcorr", xcorr)
        self.pipeline.set_model(choice, device, xcorr)
        if choice.is_opencv:
            full, short = f"model: {choice.display} | device: cpu | backend: OpenCV", f"{choice.name} | cpu"
        else:
            full = f"model: {choice.display} | device: {device} | xcorr: {xcorr}"
            short = f"{Path(choice.name).name} | {device} | {xcorr}"
        # the short form leaves the status bar room for its messages (the toolbar shows the same choice)
        self.model_label.setText(short)
        self.model_label.setToolTip(full)
        self.video.setFocus()

    def _on_model_ready(self, name: str, engine: str) -> None:
        self.statusBar().showMessage(f"model ready: {name}" + (f" on {engine}" if engine else ""), 4000)
        choice = self.current_model()
        if engine and engine != "torch" and choice is not None and not choice.is_opencv:
            # an ONNX engine (chosen when the model was built) runs on the CPU with the graph's own correlation:
            # it replaces "device | xcorr", which _apply_model shows and which describe the torch engine only
            self.model_label.setText(f"{Path(choice.name).name} | {engine}")
            self.model_label.setToolTip(f"model: {choice.display} | engine: {engine}")
            self._show_xcorr_applies(False, engine)

    def _show_xcorr_applies(self, applies: bool, engine: str = "") -> None:
        """The xcorr chooser picks the torch engine's correlation backend: disabled for an OpenCV model, and
        while an ONNX engine (`engine`) runs the model, saying why, so that it never names a backend that
        does not run."""
        self.xcorr_combo.setEnabled(applies)
        self.xcorr_label.setEnabled(applies)
        tip = (
            f"{engine} runs this model with its exported graph's own correlation; the xcorr backend applies to "
            f"the torch engine (siamtrack gui --engine torch)"
            if engine
            else ""
        )
        self.xcorr_combo.setToolTip(tip)
        self.xcorr_label.setToolTip(tip)

    def _on_trail(self, on: bool) -> None:
        self.pipeline.set_trail(on)
        self._save("view/trail", on)

    # ---- recording and export --------------------------------------------------------------------------------
    def toggle_recording(self, checked: bool | None = None) -> None:
        if self.recording_path is not None:
            self.pipeline.stop_recording()
            return
        self.act_record.setChecked(False)  # checked again when the recording really starts
        path, _ = QFileDialog.getSaveFileName(
            self, "Record annotated video", self._last_dir(), "MP4 video (*.mp4);;AVI video (*.avi)"
        )
        if path:
            if not Path(path).suffix:
                path += ".mp4"
            self.start_recording(path)

    def start_recording(self, path) -> None:
        self.pipeline.start_recording(path)

    def stop_recording(self) -> None:
        self.pipeline.stop_recording()

    def _on_recording_changed(self, on: bool, text: str) -> None:
        self.recording_path = text if on else None
        self.act_record.setChecked(on)
        self.act_record.setText("Stop &recording" if on else "&Record video...")
        self.statusBar().showMessage(f"recording to {text}" if on else text, 6000)

    def export_boxes_dialog(self) -> None:
        if not self.pipeline.session.ids:
            self.statusBar().showMessage("nothing to export yet: draw a box and track first", 4000)
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export boxes", self._last_dir(), "Text (*.txt);;All files (*)")
        if path:
            self.export_boxes(path)

    def export_boxes(self, path) -> int:
        """Write the boxes: one target's (its first box, then one per tracked frame), or the MOT layout for
        several. Returns the number of lines written."""
        try:
            n = self.pipeline.session.export(path)
        except Exception as exc:  # noqa: BLE001 - shown to the user; the run's boxes stay in the window
            self.show_error(f"{path}: cannot export boxes: {exc}")
            return 0
        dropped = self.pipeline.dropped
        note = f" ({dropped} frames were dropped and have no box)" if dropped else ""
        self.statusBar().showMessage(f"exported {n} boxes to {path}{note}", 6000)
        return n

    def export_annotations_dialog(self) -> None:
        if not self.pipeline.session.ids:
            self.statusBar().showMessage("nothing to export yet: draw a box and track first", 4000)
            return
        folder = QFileDialog.getExistingDirectory(self, "Export annotations into folder", self._last_dir())
        if folder:
            self.export_annotations(folder)

    def export_annotations(self, folder) -> list[Path]:
        """Write every target's stored boxes into `folder`: MOT `gt.txt`, `gt_ID.txt` per target, CVAT for video
        1.1 `annotations.xml` (tracker.io.annotations). Returns the files written ([] and a message on error)."""
        from ..io.annotations import write_annotations

        tracks = self.pipeline.session.annotations()
        if not tracks:
            self.statusBar().showMessage("nothing to export yet: draw a box and track first", 4000)
            return []
        shown = self.shown
        size = (shown.frame.shape[1], shown.frame.shape[0]) if shown is not None else None
        try:
            paths = write_annotations(
                folder,
                tracks,
                frame_count=shown.frame_count if shown is not None else None,
                size=size,
                name=self.source_label or "siamtrack",
            )
        except Exception as exc:  # noqa: BLE001 - shown to the user; the boxes stay in the window
            self.show_error(f"{folder}: cannot export annotations: {exc}")
            return []
        self.statusBar().showMessage(
            f"exported {len(tracks)} targets to {folder}: " + ", ".join(p.name for p in paths), 6000
        )
        return paths

    # ---- errors -------------------------------------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self.errors.append(message)
        self.banner_label.setText(message)
        self.banner.show()
        self.statusBar().showMessage(message, 10000)

    def dismiss_error(self) -> None:
        self.banner.hide()

    # ---- frames ---------------------------------------------------------------------------------------------------
    def _on_frame(self) -> None:
        packet = self.pipeline.take_packet()
        if packet is None:
            return
        first = self.latest is None
        self.latest = packet
        if first:
            self._refresh_controls()  # enable the frame actions at once, not at the next tick
        if not self._frozen:
            self._show(packet)
        self._update_stats(packet)

    def _show(self, packet: FramePacket) -> None:
        self.shown = packet
        results = packet.results
        self.video.set_image(
            packet.image,
            results=results,
            trails=packet.trails,
            selected=self.selected,
            lost=bool(packet.tracking and results and all(r.lost for r in results.values())),
        )
        self.display_rate.tick()

    def _update_stats(self, p: FramePacket) -> None:
        total = f"/{p.frame_count}" if p.frame_count else ""
        self.frame_label.setText(f"frame {p.index + 1}{total}")
        track = f"{p.track_fps:.1f}" if p.tracking and p.track_fps else "-"
        self.fps_label.setText(f"track {track} fps | display {self.display_rate.rate:.1f} fps")
        skipped = f" | unreadable {p.skipped}" if p.skipped else ""
        self.dropped_label.setText(f"dropped {p.dropped}{skipped}")
        if p.tracking and p.results:
            lost = sum(r.lost for r in p.results.values())
            if len(p.results) == 1:
                r = next(iter(p.results.values()))
                text = f"{'LOST' if r.lost else 'TRACKING'} {r.score:.2f}"
            else:
                text = f"TRACKING {len(p.results)}" + (f" ({lost} LOST)" if lost else "")
            self.state_label.setText(text)
            colour = "#c0392b" if lost == len(p.results) else "#27ae60"
            self.state_label.setStyleSheet(f"color: white; background: {colour}; font-weight: bold")

    def _refresh_controls(self) -> None:
        paused = self.pipeline.paused
        icon = QStyle.StandardPixmap.SP_MediaPlay if paused else QStyle.StandardPixmap.SP_MediaPause
        self.act_play.setIcon(self.style().standardIcon(icon))
        self.act_play.setText("&Play" if paused else "&Pause")
        has_source = self.latest is not None
        for act in (self.act_select, self.act_start, self.act_step):
            act.setEnabled(has_source)
        self.act_step_back.setEnabled(has_source and not self.is_camera)
        self.act_stop.setEnabled(self.tracking)
        has_targets = bool(self.pipeline.session.ids)
        self.act_export.setEnabled(has_targets)
        self.act_export_annotations.setEnabled(has_targets)
        self.act_next_target.setEnabled(has_source)
        self.act_delete_target.setEnabled(has_source)  # with nothing selected it says what to do
        if self.latest is not None:  # keep the display fps honest when frames stop coming
            p = self.latest
            track = f"{p.track_fps:.1f}" if self.tracking and p.track_fps else "-"
            self.fps_label.setText(f"track {track} fps | display {self.display_rate.rate:.1f} fps")

    # ---- help ---------------------------------------------------------------------------------------------------
    def shortcut_table(self) -> list[tuple[str, str]]:
        """(key, action) for every key of every action (the actions are the one table), then the mouse."""
        rows = [
            (key.toString(), a.text().replace("&", "").rstrip("."))
            for a in self.actions()
            for key in a.shortcuts()
            if not key.isEmpty()
        ]
        rows.append(("Mouse drag", "Draw a box: a new target, or a correction of the selected one from this frame"))
        rows.append(("Mouse click", "Select the target under the pointer (on empty space: select none)"))
        rows.append(("Drop a file", "Open a video or image folder"))
        return rows

    def show_help(self) -> None:
        if self._help is None:
            self._help = HelpDialog(self.shortcut_table(), self)
        self._help.show()
        self._help.raise_()

    # ---- closing ------------------------------------------------------------------------------------------------
    def closeEvent(self, event):
        self._ui_timer.stop()
        self._save("window/geometry", self.saveGeometry())
        if self.persist:
            self.settings.sync()
        self.hide()  # gone at once, while a model still loading finishes
        self.pipeline.shutdown()  # finalises the recording
        if self.export_on_close and self.pipeline.session.ids:
            self.export_boxes(self.export_on_close)
        super().closeEvent(event)
