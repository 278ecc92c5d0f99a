"""The model toolbar of the main window: model, device and xcorr choosers (remembered in the settings), a
model loaded from a file, the trail switch, and what the status bar says runs the model."""

from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QInputDialog,
    QLabel,
    QToolBar,
)

from .models import (
    ModelChoice,
    available_devices,
    available_xcorr_backends,
    choice_for_file,
    list_all_presets,
    model_choices,
)
from .window_base import WindowBase


class ModelControls(WindowBase):
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
