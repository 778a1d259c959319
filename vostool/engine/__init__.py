"""The engine: one frame loop (:mod:`.loop`), segmenting a video with writers (:mod:`.segment`), the run
record (:mod:`.record`) and the step timer (:mod:`.timing`). ``from vostool.engine import segment_video``."""

from vostool.engine.record import RUN_FILE, build_run_record
from vostool.engine.segment import SegmentResult, processing_size, segment_video
from vostool.engine.timing import StepTimer

__all__ = ["RUN_FILE", "SegmentResult", "StepTimer", "build_run_record", "processing_size", "segment_video"]
