from .sinks import BoxWriter, MotWriter, VideoSink, draw_result, draw_results, write_boxes_atomic
from .sources import FrameSource, SourceError, open_source

__all__ = [
    "FrameSource",
    "SourceError",
    "open_source",
    "BoxWriter",
    "MotWriter",
    "VideoSink",
    "draw_result",
    "draw_results",
    "write_boxes_atomic",
]
