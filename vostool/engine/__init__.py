"""The engine: one frame loop (:mod:`.loop`), segmenting a video with writers (:mod:`.segment`), the run
record (:mod:`.record`) and the step timer (:mod:`.timing`). ``from vostool.engine import segment_video``."""

from vostool.engine.loop import FrameResult, GivenLabels, InMemoryFrame, run_session
from vostool.engine.record import RUN_FILE, build_run_record
from vostool.engine.segment import SegmentResult, processing_size, segment_video
from vostool.engine.timing import FrameTimes, StepTimer

__all__ = ["RUN_FILE", "FrameResult", "FrameTimes", "GivenLabels", "InMemoryFrame", "SegmentResult", "StepTimer",
           "build_run_record", "processing_size", "run_session", "segment_video"]
