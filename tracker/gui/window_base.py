"""What every part of the main window shares: its widgets, actions and state (declared here, made by
`MainWindow`), the error banner and status line, and the settings it remembers. The parts (`actions`,
`opening`, `playback`, `targets`, `exporting`, `model_bar`) are mixins of this class; `window.MainWindow`
puts them together."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import QSettings
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QCheckBox, QComboBox, QLabel, QMainWindow, QMenu, QWidget

from .dialogs import HelpDialog
from .frames import RateMeter
from .packet import FramePacket
from .pipeline import Pipeline
from .video_widget import VideoWidget


class WindowBase(QMainWindow):
    settings: QSettings
    persist: bool  # whether settings are saved
    errors: list[str]  # every error shown, newest last (automation reads it)
    source_label: str
    is_camera: bool
    tracking: bool
    recording_path: str | None
    last_box: tuple[float, float, float, float] | None
    selected: int | None  # the selected target: a new box corrects it, Delete removes it
    shown: FramePacket | None  # the packet on screen (a box drawn initialises on its frame)
    latest: FramePacket | None  # the newest packet received
    _frozen: bool  # display held still while a box is being drawn
    _resume_after_select: bool  # a playing file was paused for a box to be drawn
    display_rate: RateMeter
    _help: HelpDialog | None
    export_on_close: str | None  # --export: write the boxes when the window closes
    pipeline: Pipeline
    video: VideoWidget
    banner: QWidget
    banner_label: QLabel
    state_label: QLabel
    frame_label: QLabel
    fps_label: QLabel
    dropped_label: QLabel
    model_label: QLabel
    model_combo: QComboBox
    device_combo: QComboBox
    xcorr_combo: QComboBox
    xcorr_label: QLabel
    trail_check: QCheckBox
    recent_menu: QMenu
    # the actions (actions.ACTIONS makes one per row)
    act_open: QAction
    act_open_folder: QAction
    act_open_camera: QAction
    act_play: QAction
    act_step: QAction
    act_step_back: QAction
    act_select: QAction
    act_start: QAction
    act_next_target: QAction
    act_delete_target: QAction
    act_cancel: QAction
    act_stop: QAction
    act_reset: QAction
    act_record: QAction
    act_export: QAction
    act_export_annotations: QAction
    act_model_file: QAction
    act_trail: QAction
    act_realtime: QAction
    act_help: QAction
    act_quit: QAction

    def _refresh_controls(self) -> None:
        """Bring the actions' state up to date with the window's (`actions.WindowActions` does)."""

    # ---- errors -------------------------------------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self.errors.append(message)
        self.banner_label.setText(message)
        self.banner.show()
        self.statusBar().showMessage(message, 10000)

    def dismiss_error(self) -> None:
        self.banner.hide()

    # ---- settings -------------------------------------------------------------------------------------------------
    def _save(self, key: str, value) -> None:
        if self.persist:
            self.settings.setValue(key, value)

    def _last_dir(self) -> str:
        return self.settings.value("dirs/last", str(Path.home()), type=str)
