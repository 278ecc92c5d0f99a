"""Annotations of several targets through a video, in the files labelling tools and benchmarks read. No Qt.

The annotations are `Tracks`: {target id (from 1): {frame index (from 0): TrackResult}}, any frames per
target (a target may start late, stop early or have gaps). Three layouts:
- MOT challenge `gt.txt` (`frame,id,x,y,w,h,score,-1,-1,-1`, frames from 1): `tracker.io.sinks.MotWriter`,
  the writer `siamtrack track` uses, so both write the same file;
- one `x,y,w,h` file per target beside it (`gt_ID.txt`, MotWriter's per-target files: a line per frame from
  the first annotated frame of any target to the last, NaN where that target has no box);
- CVAT for video 1.1 XML (`annotations.xml`): one `<track>` per target (CVAT's track id is the target id
  minus 1, as CVAT numbers tracks from 0), a `<box frame xtl ytl xbr ybr outside occluded keyframe>` per frame
  it has a box on (every box a keyframe; `occluded="1"` where the tracker called the target lost), and an
  `outside="1"` box on the frame after each stretch of boxes, where the video goes on, which is how CVAT
  marks a track leaving the picture.
Every file is written atomically (a temporary file, then a rename) after all of them are made, so a failing
export leaves each file either as it was or complete.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

from ..result import TrackResult
from .sinks import MotWriter, atomic_write_text, format_box

Tracks = Mapping[int, Mapping[int, TrackResult]]

MOT_NAME = "gt.txt"
CVAT_NAME = "annotations.xml"


def annotated_frames(tracks: Tracks) -> list[int]:
    """Every frame index that has a box of some target, in order."""
    return sorted({f for per_frame in tracks.values() for f in per_frame})


def mot_writer(path: str | os.PathLike, tracks: Tracks, per_target: bool = False) -> MotWriter:
    """A MotWriter holding `tracks` (not yet written: `close()` writes), fed one frame at a time from the first
    annotated frame to the last, so that its per-target files have a line for every frame in between."""
    writer = MotWriter(path, per_target)
    frames = annotated_frames(tracks)
    for f in range(frames[0], frames[-1] + 1) if frames else ():
        writer.write(f, {i: per_frame[f] for i, per_frame in sorted(tracks.items()) if f in per_frame})
    return writer


def _num(value: float) -> str:
    return format_box((float(value),))


def cvat_video_xml(
    tracks: Tracks,
    *,
    frame_count: int | None = None,
    size: tuple[int, int] | None = None,
    name: str = "siamtrack",
    label: str = "target",
) -> str:
    """The CVAT for video 1.1 XML text of `tracks` on a video of `frame_count` frames (else up to the last
    annotated frame) of `size` (width, height) pixels."""
    frames = annotated_frames(tracks)
    last = (frame_count - 1) if frame_count else (frames[-1] if frames else 0)
    last = max(last, frames[-1] if frames else 0)
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    task = ET.SubElement(ET.SubElement(root, "meta"), "task")
    for key, value in (
        ("name", name),
        ("size", str(last + 1)),
        ("mode", "interpolation"),
        ("overlap", "0"),
        ("start_frame", "0"),
        ("stop_frame", str(last)),
    ):
        ET.SubElement(task, key).text = value
    lab = ET.SubElement(ET.SubElement(task, "labels"), "label")
    ET.SubElement(lab, "name").text = label
    ET.SubElement(lab, "attributes")
    if size is not None:
        original = ET.SubElement(task, "original_size")
        ET.SubElement(original, "width").text = str(int(size[0]))
        ET.SubElement(original, "height").text = str(int(size[1]))
    for target_id in sorted(tracks):
        per_frame = tracks[target_id]
        if not per_frame:
            continue
        track = ET.SubElement(root, "track", {"id": str(target_id - 1), "label": label, "source": "auto"})
        for f in sorted(per_frame):
            r = per_frame[f]
            _box(track, f, r.box, outside=False, occluded=r.lost)
            if f + 1 not in per_frame and f + 1 <= last:
                _box(track, f + 1, r.box, outside=True, occluded=False)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _box(track: ET.Element, frame: int, box, outside: bool, occluded: bool) -> None:
    x, y, w, h = (float(v) for v in box)
    ET.SubElement(
        track,
        "box",
        {
            "frame": str(frame),
            "outside": str(int(outside)),
            "occluded": str(int(occluded)),
            "keyframe": "1",
            "xtl": _num(x),
            "ytl": _num(y),
            "xbr": _num(x + w),
            "ybr": _num(y + h),
            "z_order": "0",
        },
    )


def read_cvat_video(path: str | os.PathLike) -> dict[int, dict[int, tuple[float, float, float, float]]]:
    """The boxes of a CVAT for video XML file: {target id (CVAT's track id + 1): {frame: (x, y, w, h)}},
    the boxes marked outside left out."""
    tracks: dict[int, dict[int, tuple[float, float, float, float]]] = {}
    for track in ET.parse(path).getroot().iter("track"):
        per_frame = tracks.setdefault(int(track.get("id", "0")) + 1, {})
        for box in track.iter("box"):
            if box.get("outside", "0") == "1":
                continue
            xtl, ytl, xbr, ybr = (float(box.get(k, "nan")) for k in ("xtl", "ytl", "xbr", "ybr"))
            per_frame[int(box.get("frame", "0"))] = (xtl, ytl, xbr - xtl, ybr - ytl)
    return tracks


def write_annotations(
    folder: str | os.PathLike,
    tracks: Tracks,
    *,
    frame_count: int | None = None,
    size: tuple[int, int] | None = None,
    name: str = "siamtrack",
) -> list[Path]:
    """Write `tracks` into `folder` (made if missing): `gt.txt` (MOT), `gt_ID.txt` per target and
    `annotations.xml` (CVAT for video 1.1). Returns the paths written. Nothing is written when there are no
    boxes (ValueError)."""
    if not annotated_frames(tracks):
        raise ValueError("nothing to export: no target has a box yet")
    folder = Path(folder)
    xml = cvat_video_xml(tracks, frame_count=frame_count, size=size, name=name)
    writer = mot_writer(folder / MOT_NAME, tracks, per_target=True)
    writer.close()
    atomic_write_text(folder / CVAT_NAME, xml)
    ids = [i for i in sorted(tracks) if tracks[i]]
    return [writer.path, *(writer.target_path(i) for i in ids), folder / CVAT_NAME]
