"""Opening sources in the main window: video files, image folders and cameras (dialogs, drag and drop, the
recent files), each handed to the pipeline paused on its first frame (a camera plays)."""

from __future__ import annotations

import os
from pathlib import Path

from PyQt6.QtWidgets import (
    QDialog,
    QFileDialog,
)

from .dialogs import RESOLUTIONS, CameraDialog
from .window_base import WindowBase

MAX_RECENT = 8
VIDEO_FILTER = "Videos (*.mp4 *.avi *.mov *.mkv *.m4v *.webm *.mpg *.mpeg *.wmv);;All files (*)"


class SourceOpening(WindowBase):
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
