"""The window's dialogs: the keyboard-shortcut table and the camera chooser."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

RESOLUTIONS = ["camera default", "640x480", "1280x720", "1920x1080"]


class HelpDialog(QDialog):
    def __init__(self, rows: list[tuple[str, str]], parent=None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        lay = QVBoxLayout(self)
        self.table = QTableWidget(len(rows), 2, self)
        self.table.setHorizontalHeaderLabels(["Key", "Action"])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for r, (key, text) in enumerate(rows):
            self.table.setItem(r, 0, QTableWidgetItem(key))
            self.table.setItem(r, 1, QTableWidgetItem(text))
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.table.resizeColumnToContents(0)
        lay.addWidget(self.table)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        lay.addWidget(buttons)
        self.resize(560, 480)


def camera_label(index: int) -> str:
    """'camera 0 - Integrated Webcam' where the system names its video devices (Linux V4L2), else 'camera 0'."""
    try:
        name = Path(f"/sys/class/video4linux/video{index}/name").read_text().strip()
    except OSError:
        name = ""
    return f"camera {index} - {name}" if name else f"camera {index}"


class CameraDialog(QDialog):
    """Choose a camera index and a resolution; 'Probe' finds the indices that really open."""

    def __init__(self, parent=None, index: int = 0, resolution: str = RESOLUTIONS[0]):
        super().__init__(parent)
        self.setWindowTitle("Open camera")
        form = QFormLayout(self)
        self.device = QComboBox()
        for i in range(10):
            self.device.addItem(camera_label(i), i)
        self.device.setCurrentIndex(max(0, min(9, index)))
        probe = QPushButton("Probe")
        probe.clicked.connect(self.probe)
        row = QHBoxLayout()
        row.addWidget(self.device, 1)
        row.addWidget(probe)
        form.addRow("Device", row)
        self.resolution = QComboBox()
        self.resolution.setEditable(True)  # any WxH the camera supports
        self.resolution.addItems(RESOLUTIONS)
        self.resolution.setCurrentText(resolution)
        form.addRow("Resolution", self.resolution)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def probe(self) -> None:
        import cv2

        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            found = []
            for i in range(self.device.count()):
                cap = cv2.VideoCapture(i)
                ok = cap.isOpened()
                cap.release()
                self.device.setItemText(i, camera_label(i) + ("" if ok else " (not found)"))
                if ok:
                    found.append(i)
            if found:
                self.device.setCurrentIndex(found[0])
        finally:
            QApplication.restoreOverrideCursor()

    def selection(self) -> tuple[int, str | None]:
        res = self.resolution.currentText().strip()
        return int(self.device.currentData()), (res if "x" in res else None)
