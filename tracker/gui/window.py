"""The main window, put together from its parts: `actions` (the action table, menus, toolbar, F1 list),
`opening` (sources), `playback` (play, step, frames shown), `targets` (draw, select, delete, correct),
`exporting` (recording, boxes, annotations) and `model_bar` (model choosers), over `window_base` (what they
share). Here: building the window, wiring the pipeline's signals, restoring the settings, closing."""

from __future__ import annotations

import os

from PyQt6.QtCore import QSettings, Qt, QTimer
from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from .actions import WindowActions
from .exporting import ExportControls
from .frames import RateMeter
from .model_bar import ModelControls
from .models import ModelChoice
from .opening import SourceOpening
from .pipeline import Pipeline
from .targets import TargetControls
from .video_widget import VideoWidget


def settings_from_env() -> QSettings:
    path = os.environ.get("SIAMTRACK_GUI_SETTINGS")
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("siamtrack", "siamtrack-gui")


class MainWindow(WindowActions, SourceOpening, TargetControls, ExportControls, ModelControls):
    def __init__(self, settings: QSettings | None = None, tracker_factory=None, persist: bool = True, parent=None):
        super().__init__(parent)
        self.settings = settings if settings is not None else settings_from_env()
        self.persist = persist
        self.errors = []
        self.source_label = ""
        self.is_camera = False
        self.tracking = False
        self.recording_path = None
        self.last_box = None
        self.selected = None
        self.shown = None
        self.latest = None
        self._frozen = False
        self._resume_after_select = False
        self.display_rate = RateMeter()
        self._help = None
        self.export_on_close = None

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
    def _build_ui(self) -> None:
        self._build_menus()
        self._build_main_toolbar()
        self.addToolBarBreak()
        self._build_model_toolbar()
        self._build_central()
        self._build_status_bar()

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
