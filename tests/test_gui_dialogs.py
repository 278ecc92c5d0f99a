"""The window's dialogs in their own module (tracker.gui.dialogs): the shortcut table and the camera chooser."""


def test_dialogs_live_in_their_own_module(qtbot):
    from tracker.gui import actions, dialogs, opening

    assert actions.HelpDialog is dialogs.HelpDialog and opening.CameraDialog is dialogs.CameraDialog
    help_ = dialogs.HelpDialog([("F1", "Keyboard shortcuts"), ("S", "Select target")])
    qtbot.addWidget(help_)
    assert help_.table.rowCount() == 2 and help_.table.item(1, 1).text() == "Select target"
    cam = dialogs.CameraDialog(None, 3, "1280x720")
    qtbot.addWidget(cam)
    assert cam.selection() == (3, "1280x720")
    cam.resolution.setCurrentText(dialogs.RESOLUTIONS[0])
    assert cam.selection() == (3, None)
    assert dialogs.camera_label(99) == "camera 99"
