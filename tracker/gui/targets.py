"""The targets in the main window: drawing a box (a new target, or a correction of the selected one from the
frame on screen), selecting one (a click on its box, or N), deleting it, and stopping or resetting tracking.
A box outside the frame or of zero size is refused with one status-bar line."""

from __future__ import annotations

from ..trackers.base import TrackerError, validate_box
from .playback import PlaybackControls


class TargetControls(PlaybackControls):
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
