"""A Siamese model prepared to run on an ONNX engine, for the builder (tracker.build):

- `auto`: the export a preset runs on (its shipped export, or one made once into the cache folder with
  tracker.export.onnx), the export for several targets at once, and the `auto` engine's choice;
- `on_export`: a tracker on an export (a folder written by `siamtrack export`, a preset's shipped export, any
  read export), its engine, and for `auto` its precision, chosen by timing once per machine;
- `opencv_nano`: OpenCV's cv2.TrackerNano pair (`opencv-nano:DIR`) converted once into an export.
"""
