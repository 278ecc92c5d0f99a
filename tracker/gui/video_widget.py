"""The video view: the frame scaled to fit (aspect kept, centred), the targets' overlay and a rubber band to
draw a box; a click (a drag shorter than MIN_BOX) on the picture is reported as a click, to select a target.

The overlay (each target's box in its id's colour with '#id score', trails, the selected target highlighted)
is painted here at screen resolution over the scaled frame, not drawn into the frame: on a small video
(128x96 shown 6x larger) lines stay 2 px and the text crisp, and the label is kept inside the picture.
Recordings draw the same overlay into the frames (tracker.io.sinks.draw_result / draw_results), in the same
colours (tracker.io.sinks.id_colour).

Coordinates: the widget works in widget pixels; `widget_to_image` / `image_to_widget` map to and from
the frame's pixel grid (0-based, x right, y down), which is what trackers receive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from PyQt6.QtCore import QPointF, QRectF, Qt, pyqtSignal
from PyQt6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPen, QPolygonF
from PyQt6.QtWidgets import QSizePolicy, QWidget

from ..io.sinks import id_colour
from ..result import TrackResult

MIN_BOX = 4.0  # smaller drags (image pixels) are treated as clicks, not selections
TRACK_COLOUR = QColor(0, 255, 0)  # the colours of tracker.io.sinks.draw_result (there BGR)
LOST_COLOUR = QColor(255, 0, 0)
TRAIL_COLOUR = QColor(0, 200, 255)
SELECTED_OUTLINE = QColor(255, 255, 255)


def target_colour(target_id: int) -> QColor:
    """Target `target_id`'s colour: the annotated video's (tracker.io.sinks.id_colour, there BGR)."""
    b, g, r = id_colour(target_id)
    return QColor(r, g, b)


class VideoWidget(QWidget):
    boxSelected = pyqtSignal(float, float, float, float)  # x, y, w, h in image pixels
    clicked = pyqtSignal(float, float)  # x, y in image pixels: a press and release without a drag
    selectionStarted = pyqtSignal()
    selectionCancelled = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._image: QImage | None = None
        self._anchor: QPointF | None = None  # drag start, image coordinates
        self._cursor: QPointF | None = None  # drag end, image coordinates
        self.select_mode = False  # "S": next drag selects (drags always do; this shows a hint)
        self.lost = False  # the tracker says the target is lost: red frame + banner
        self.hint = "Open a video, an image folder or a camera (File menu), or drop a file here"
        self.results: dict[int, TrackResult] = {}  # the targets' boxes on this frame (image pixels), by id
        self.trails: Mapping[int, Sequence[tuple[float, float]]] | None = None  # recent box centres, by id
        self.selected: int | None = None  # the selected target's id: drawn highlighted
        self.label_rects: dict[int, QRectF] = {}  # where each target's label was last painted (widget pixels)
        self.label_rect: QRectF | None = None  # the last of them
        self.setMinimumSize(320, 240)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(False)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    # ---- image and geometry -------------------------------------------------------------------------------
    def set_image(
        self,
        image: QImage,
        results: Mapping[int, TrackResult] | None = None,
        trails: Mapping[int, Sequence[tuple[float, float]]] | None = None,
        selected: int | None = None,
        lost: bool = False,
    ) -> None:
        """Show `image` (the raw frame) with the targets' `results` and `trails` painted over it, `selected`
        highlighted; `lost`: the frame's red border and banner."""
        self._image = image
        self.lost = lost
        self.results = dict(results or {})
        self.trails = trails
        self.selected = selected
        self.update()

    def set_selected(self, target_id: int | None) -> None:
        self.selected = target_id
        self.update()

    @property
    def result(self) -> TrackResult | None:
        """The one target's box (the lowest id's when there are several)."""
        return next(iter(self.results.values()), None)

    def target_at(self, x: float, y: float) -> int | None:
        """The target whose box (on this frame) holds image point (x, y); the smallest box where they overlap."""
        hits = [
            (r.box[2] * r.box[3], i)
            for i, r in self.results.items()
            if r.box[0] <= x <= r.box[0] + r.box[2] and r.box[1] <= y <= r.box[1] + r.box[3]
        ]
        return min(hits)[1] if hits else None

    @property
    def image_size(self) -> tuple[int, int] | None:
        return None if self._image is None else (self._image.width(), self._image.height())

    def _layout(self) -> tuple[float, float, float]:
        """(scale, offset_x, offset_y) of the image inside the widget."""
        if self._image is None or self._image.width() == 0 or self._image.height() == 0:
            return 1.0, 0.0, 0.0
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        return scale, (self.width() - iw * scale) / 2.0, (self.height() - ih * scale) / 2.0

    def widget_to_image(self, pos: QPointF) -> QPointF:
        scale, ox, oy = self._layout()
        return QPointF((pos.x() - ox) / scale, (pos.y() - oy) / scale)

    def image_to_widget(self, x: float, y: float) -> QPointF:
        scale, ox, oy = self._layout()
        return QPointF(ox + x * scale, oy + y * scale)

    def _clamp(self, p: QPointF) -> QPointF:
        w, h = self.image_size or (0, 0)
        return QPointF(min(max(p.x(), 0.0), float(w)), min(max(p.y(), 0.0), float(h)))

    # ---- selection -----------------------------------------------------------------------------------------
    @property
    def selecting(self) -> bool:
        return self._anchor is not None

    def selection_rect(self) -> QRectF | None:
        if self._anchor is None or self._cursor is None:
            return None
        return QRectF(self._anchor, self._cursor).normalized()

    def cancel_selection(self) -> None:
        was = self._anchor is not None or self.select_mode
        self._anchor = self._cursor = None
        self.select_mode = False
        self.update()
        if was:
            self.selectionCancelled.emit()

    def mousePressEvent(self, event):
        if event.button() != Qt.MouseButton.LeftButton or self._image is None:
            return super().mousePressEvent(event)
        p = self.widget_to_image(event.position())
        w, h = self.image_size or (0, 0)  # there is an image (checked above)
        if not (0 <= p.x() <= w and 0 <= p.y() <= h):
            return  # pressed on the letterbox border
        self._anchor = self._cursor = p
        self.selectionStarted.emit()
        self.update()

    def mouseMoveEvent(self, event):
        if self._anchor is None:
            return super().mouseMoveEvent(event)
        self._cursor = self._clamp(self.widget_to_image(event.position()))
        self.update()

    def mouseReleaseEvent(self, event):
        if self._anchor is None or event.button() != Qt.MouseButton.LeftButton:
            return super().mouseReleaseEvent(event)
        self._cursor = self._clamp(self.widget_to_image(event.position()))
        rect = self.selection_rect()
        self._anchor = self._cursor = None
        self.select_mode = False
        self.update()
        if rect is None or rect.width() < MIN_BOX or rect.height() < MIN_BOX:
            self.selectionCancelled.emit()
            if rect is not None and rect.width() < MIN_BOX and rect.height() < MIN_BOX:
                self.clicked.emit(rect.center().x(), rect.center().y())
            return
        self.boxSelected.emit(rect.x(), rect.y(), rect.width(), rect.height())

    def keyPressEvent(self, event):
        if event.key() == Qt.Key.Key_Escape and (self.selecting or self.select_mode):
            self.cancel_selection()
            return
        super().keyPressEvent(event)

    # ---- painting ------------------------------------------------------------------------------------------
    def paintEvent(self, event):
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(32, 32, 32))
        if self._image is None:
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.hint)
            return
        scale, ox, oy = self._layout()
        target = QRectF(ox, oy, self._image.width() * scale, self._image.height() * scale)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, scale < 1.0)
        painter.drawImage(target, self._image)
        self._paint_overlay(painter, target)
        if self.lost:
            painter.setPen(QPen(QColor(230, 40, 40), 4))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(target.adjusted(2, 2, -2, -2))
            font = painter.font()
            font.setBold(True)
            font.setPointSizeF(font.pointSizeF() * 1.4)
            painter.setFont(font)
            badge = QRectF(target.x() + 10, target.y() + 10, 150, 28)
            painter.fillRect(badge, QColor(230, 40, 40, 200))
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, "TARGET LOST")
        rect = self.selection_rect()
        if rect is not None:
            tl = self.image_to_widget(rect.x(), rect.y())
            br = self.image_to_widget(rect.right(), rect.bottom())
            pen = QPen(QColor(255, 220, 0), 2, Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.setBrush(QColor(255, 220, 0, 40))
            painter.drawRect(QRectF(tl, br))
            painter.setPen(QColor(255, 220, 0))
            painter.drawText(tl + QPointF(2, -4), f"{rect.width():.0f}x{rect.height():.0f}")
        if self.select_mode and rect is None:
            painter.setPen(QColor(255, 220, 0))
            painter.drawText(
                QRectF(0, 8, self.width(), 24),
                Qt.AlignmentFlag.AlignHCenter,
                "Drag a box around the target (Esc cancels)",
            )

    def _paint_overlay(self, painter: QPainter, target: QRectF) -> None:
        """Trails, boxes and labels in widget pixels: fixed line widths and font size whatever the scale,
        the labels inside the picture (`target`). Each target in its id's colour (one lost target alone in
        the lost red, as the recording draws it), a lost one dashed, the selected one thicker and outlined."""
        self.label_rect = None
        self.label_rects = {}
        if not self.results and not self.trails:
            return
        painter.save()
        painter.setClipRect(target)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        for target_id, trail in (self.trails or {}).items():
            if trail and len(trail) > 1:
                painter.setPen(QPen(TRAIL_COLOUR if len(self.results) <= 1 else target_colour(target_id), 1.5))
                painter.drawPolyline(QPolygonF([self.image_to_widget(x, y) for x, y in trail]))
        for target_id, r in self.results.items():
            x, y, w, h = r.box
            alone_lost = r.lost and len(self.results) == 1
            colour = LOST_COLOUR if alone_lost else TRACK_COLOUR if len(self.results) == 1 else target_colour(target_id)
            selected = target_id == self.selected
            box = QRectF(self.image_to_widget(x, y), self.image_to_widget(x + w, y + h))
            if selected:
                painter.setPen(QPen(SELECTED_OUTLINE, 1.0, Qt.PenStyle.DashLine))
                painter.drawRect(box.adjusted(-3, -3, 3, 3))
            pen = QPen(colour, 4.0 if selected else 1.5 if r.lost else 2.0)
            if r.lost:
                pen.setStyle(Qt.PenStyle.DashLine)
            painter.setPen(pen)
            painter.drawRect(box)
            text = f"#{target_id} {r.score:.2f}" + (" LOST" if r.lost else "")
            self._paint_label(painter, text, box, target, colour)
            if self.label_rect is not None:
                self.label_rects[target_id] = self.label_rect
        painter.restore()

    def _paint_label(self, painter: QPainter, text: str, box: QRectF, target: QRectF, colour: QColor) -> None:
        font = QFont(painter.font())
        font.setBold(True)
        painter.setFont(font)
        fm = QFontMetricsF(font)
        pad = 3.0
        tw, th = fm.horizontalAdvance(text) + 2 * pad, fm.height() + pad
        left = min(max(box.left(), target.left()), target.right() - tw)
        top = box.top() - th - 1  # above the box ...
        if top < target.top():
            top = box.top() + 2  # ... or just inside it when the box touches the top
        top = min(max(top, target.top()), target.bottom() - th)
        rect = QRectF(max(left, target.left()), top, min(tw, target.width()), th)
        painter.fillRect(rect, QColor(0, 0, 0, 150))
        painter.setPen(colour)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        self.label_rect = rect
