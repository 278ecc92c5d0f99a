from .sinks import BoxWriter, VideoSink, draw_result, write_boxes_atomic
from .sources import FrameSource, SourceError, open_source

__all__ = ["FrameSource", "SourceError", "open_source", "BoxWriter", "VideoSink", "draw_result", "write_boxes_atomic"]
