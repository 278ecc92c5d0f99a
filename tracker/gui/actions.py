"""The main window's actions: one table (`ACTIONS`) says each action's text, keys, what it calls, icon and tip;
the menus, the toolbar and the F1 list of shortcuts are all made from it, so a key is added in one place."""

from __future__ import annotations

from dataclasses import dataclass

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QStyle, QToolBar

from .dialogs import HelpDialog
from .window_base import WindowBase

SP = QStyle.StandardPixmap


@dataclass(frozen=True)
class ActionSpec:
    """One action of the window: `act_<name>`; `slot` names the window method it calls (none: a checkable
    switch wired elsewhere); every key in `keys` triggers it and is listed under F1."""

    name: str
    text: str
    keys: tuple[str, ...] = ()
    slot: str | None = None
    icon: QStyle.StandardPixmap | None = None
    tip: str | None = None
    checkable: bool = False


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("open", "&Open video...", ("Ctrl+O",), "open_video_dialog", SP.SP_DialogOpenButton, "Open a video file"),
    ActionSpec(
        "open_folder",
        "Open image &folder...",
        ("Ctrl+Shift+O",),
        "open_folder_dialog",
        SP.SP_DirOpenIcon,
        "Open a folder of images",
    ),
    ActionSpec(
        "open_camera", "Open &camera...", ("Ctrl+K",), "open_camera_dialog", SP.SP_ComputerIcon, "Open a webcam"
    ),
    ActionSpec("play", "&Play / pause", ("Space",), "toggle_play", SP.SP_MediaPlay, "Play or pause"),
    ActionSpec(
        "step",
        "Step &forward",
        ("Right", "."),
        "step_forward",
        SP.SP_MediaSeekForward,
        "Show the next frame (tracked, or its stored boxes)",
    ),
    ActionSpec(
        "step_back",
        "Step &back",
        ("Left", ","),
        "step_back",
        SP.SP_MediaSeekBackward,
        "Show the previous frame with its stored boxes",
    ),
    ActionSpec(
        "select",
        "&Draw target box",
        ("S",),
        "enter_select_mode",
        SP.SP_ArrowDown,
        "Draw a box with the mouse: a new target, or a correction of the selected one",
    ),
    ActionSpec(
        "start",
        "S&tart tracking",
        ("Return",),
        "start_tracking",
        SP.SP_MediaPlay,
        "Start tracking the last drawn box (or draw one)",
    ),
    ActionSpec(
        "next_target", "Select &next target", ("N",), "select_next_target", None, "Select the next target on this frame"
    ),
    ActionSpec(
        "delete_target",
        "&Delete selected target",
        ("Delete", "Backspace"),
        "delete_selected_target",
        None,
        "Stop the selected target on this frame (its earlier boxes stay)",
    ),
    ActionSpec("stop", "St&op tracking", ("X",), "stop_tracking", SP.SP_MediaStop, "Stop tracking"),
    ActionSpec(
        "reset",
        "&Reset tracking",
        ("R",),
        "reset_tracking",
        SP.SP_BrowserReload,
        "Stop tracking and clear the box, trail and boxes",
    ),
    ActionSpec(
        "cancel",
        "&Cancel drawing / selection",
        ("Escape",),
        "cancel_selection",
        None,
        "Cancel the box being drawn, or the selection",
    ),
    ActionSpec(
        "record",
        "&Record video...",
        ("Ctrl+R",),
        "toggle_recording",
        SP.SP_DialogSaveButton,
        "Record the annotated video",
        checkable=True,
    ),
    ActionSpec(
        "export",
        "&Export boxes...",
        ("Ctrl+E",),
        "export_boxes_dialog",
        None,
        "Save the tracked boxes (x,y,w,h per frame; the MOT layout for several targets)",
    ),
    ActionSpec(
        "export_annotations",
        "Export &annotations...",
        ("Ctrl+Shift+E",),
        "export_annotations_dialog",
        None,
        "Save every target's boxes into a folder: MOT gt.txt, an x,y,w,h file per target, CVAT for video XML",
    ),
    ActionSpec(
        "model_file",
        "Load &model from file...",
        ("Ctrl+M",),
        "load_model_dialog",
        None,
        "A checkpoint (.pth) or a pysot config (.yaml)",
    ),
    ActionSpec("trail", "Show &trail", ("T",), None, None, "Draw the target's recent path", checkable=True),
    ActionSpec(
        "realtime",
        "Real-time &playback (drop frames)",
        (),
        None,
        None,
        "Files play at their own speed and frames the tracker cannot keep up with are dropped (cameras always do this)",
        checkable=True,
    ),
    ActionSpec("help", "&Keyboard shortcuts", ("F1",), "show_help", SP.SP_DialogHelpButton),
    ActionSpec("quit", "&Quit", ("Ctrl+Q",), "close"),
)

RECENT = "recent"  # the Open recent submenu's place in MENUS
# the menus: each a title and its actions by name (None: a separator)
MENUS: tuple[tuple[str, tuple[str | None, ...]], ...] = (
    (
        "&File",
        ("open", "open_folder", "open_camera", RECENT, None, "record", "export", "export_annotations", None, "quit"),
    ),
    ("&Playback", ("play", "step", "step_back", "realtime")),
    (
        "&Tracking",
        ("select", "next_target", "delete_target", "cancel", "start", "stop", "reset", None, "model_file"),
    ),
    ("&View", ("trail",)),
    ("&Help", ("help",)),
)
TOOLBAR: tuple[str | None, ...] = ("open", "play", "step", None, "select", "stop", "reset", None, "record")
MOUSE_HELP = (
    ("Mouse drag", "Draw a box: a new target, or a correction of the selected one from this frame"),
    ("Mouse click", "Select the target under the pointer (on empty space: select none)"),
    ("Drop a file", "Open a video or image folder"),
)


class WindowActions(WindowBase):
    def _action(self, spec: ActionSpec) -> QAction:
        act = QAction(spec.text, self)
        if spec.keys:
            act.setShortcuts([QKeySequence(k) for k in spec.keys])
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if spec.icon is not None:
            act.setIcon(self.style().standardIcon(spec.icon))
        act.setCheckable(spec.checkable)
        if spec.tip:
            act.setToolTip(f"{spec.tip} ({' or '.join(spec.keys)})" if spec.keys else spec.tip)
        if spec.slot is not None:
            act.triggered.connect(getattr(self, spec.slot))
        self.addAction(act)
        return act

    def _build_actions(self) -> None:
        """One action per row of ACTIONS, as `act_<name>`."""
        for spec in ACTIONS:
            setattr(self, f"act_{spec.name}", self._action(spec))

    def _build_menus(self) -> None:
        bar = self.menuBar()
        for title, names in MENUS:
            menu = bar.addMenu(title)
            for name in names:
                if name is None:
                    menu.addSeparator()
                elif name == RECENT:
                    recent = menu.addMenu("Open &recent")
                    assert recent is not None  # PyQt6's stubs say Optional
                    self.recent_menu = recent
                else:
                    menu.addAction(getattr(self, f"act_{name}"))

    def _build_main_toolbar(self) -> None:
        tb = QToolBar("Main", self)
        tb.setObjectName("main-toolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for name in TOOLBAR:
            if name is None:
                tb.addSeparator()
            else:
                tb.addAction(getattr(self, f"act_{name}"))
        self.addToolBar(tb)

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
        """(key, action) for every key of every action (ACTIONS, in its order), then the mouse's."""
        rows = [
            (key.toString(), a.text().replace("&", "").rstrip("."))
            for a in self.actions()
            for key in a.shortcuts()
            if not key.isEmpty()
        ]
        return rows + list(MOUSE_HELP)

    def show_help(self) -> None:
        if self._help is None:
            self._help = HelpDialog(self.shortcut_table(), self)
        self._help.show()
        self._help.raise_()
