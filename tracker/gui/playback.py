"""Playback in the main window: play, pause, stepping forward and back through a file, and the frames the
pipeline publishes shown as they come (with every target's box and the status-bar read-outs)."""

from __future__ import annotations

from .packet import FramePacket
from .window_base import WindowBase


class PlaybackControls(WindowBase):
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
