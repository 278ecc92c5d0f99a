"""What the main window writes: the annotated recording, the boxes (`siamtrack track`'s box file, or the MOT
layout for several targets) and the annotations of every target (tracker.io.annotations: MOT, a file per
target, CVAT for video XML)."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtWidgets import (
    QFileDialog,
)

from .window_base import WindowBase


class ExportControls(WindowBase):
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
