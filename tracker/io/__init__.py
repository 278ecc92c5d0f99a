from .sources import FrameSource, SourceError, open_source
from .sinks import BoxWriter, VideoSink, draw_result, write_boxes_atomic

__all__ = ["FrameSource", "SourceError", "open_source", "BoxWriter", "VideoSink", "draw_result",
           "write_boxes_atomic"]
