"""Save a simulated run as a PNG strip (matplotlib) or an animated GIF (Pillow, if installed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FORMATS = (".png", ".gif")


def check_record_path(path: Path) -> Path:
    """Validate the output path early (before a long run): known suffix, writable folder."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"record path {str(path)!r} must end in one of {FORMATS}")
    if path.suffix.lower() == ".gif":
        try:
            import PIL  # noqa: F401
        except ImportError as error:
            raise ValueError(f"record path {str(path)!r}: GIF needs Pillow; use .png") from error
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


class FrameRecorder:
    """Keep every `every`-th RGB frame, at most `max_frames` (the oldest are thinned out)."""

    def __init__(self, every: int, max_frames: int = 12) -> None:
        if every < 1 or max_frames < 1:
            raise ValueError(f"need every >= 1 and max_frames >= 1, got {every}, {max_frames}")
        self.every = every
        self.max_frames = max_frames
        self.frames: list[np.ndarray] = []
        self.count = 0

    def wants_frame(self) -> bool:
        """Return True when the next step's frame is to be kept (call once per step)."""
        keep = self.count % self.every == 0
        self.count += 1
        return keep

    def add(self, frame: np.ndarray) -> None:
        """Append an (h, w, 3) uint8 frame; halve the stored frames when full."""
        self.frames.append(np.asarray(frame, dtype=np.uint8))
        if len(self.frames) > self.max_frames:
            self.frames = self.frames[::2]
            self.every *= 2

    def save(self, path: Path) -> Path:
        """Write the frames side by side (.png) or as an animation (.gif)."""
        if not self.frames:
            raise ValueError("no frames recorded: the run was too short")
        path = Path(path)
        if path.suffix.lower() == ".gif":
            from PIL import Image

            images = [Image.fromarray(frame) for frame in self.frames]
            images[0].save(path, save_all=True, append_images=images[1:], duration=200, loop=0)
            return path
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        plt.imsave(path, np.concatenate(self.frames, axis=1))
        return path
