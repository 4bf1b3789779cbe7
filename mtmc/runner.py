"""Run every camera of a config in its own process, with a progress bar per camera.

A camera that fails (missing video, unreachable stream, bad weights) reports one line and
the others keep going; what each camera computed before an error is written out.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path

from mtmc.camera import CameraPipeline, CameraReport
from mtmc.config import CameraConfig, MtmcConfig
from mtmc.errors import MtmcError
from mtmc.progress import follow


def _run_camera(
    camera: dict, config: dict, out_dir: str, threads: int, events: multiprocessing.Queue
) -> dict:
    """Process entry point (module level, so it pickles under ``spawn``)."""
    import logging

    logging.basicConfig(level=logging.WARNING, format=f"%(levelname)s {camera['id']}: %(message)s")
    pipeline = CameraPipeline.from_config(
        CameraConfig(**camera), MtmcConfig.model_validate(config), Path(out_dir), threads=threads
    )
    events.put((camera["id"], "total", pipeline.source.expected_frames()))
    report = pipeline.run(on_frame=lambda index: events.put((camera["id"], "frame", 1)))
    return asdict(report)


def run_cameras(
    config: MtmcConfig, out_dir: Path, show_progress: bool = True
) -> dict[str, CameraReport | str]:
    """Each camera's report, or its error message."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not config.cameras:
        raise MtmcError("the config names no cameras (add a cameras: list with id and source)")
    out_dir.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // len(config.cameras))
    context = multiprocessing.get_context("spawn")  # no forked onnxruntime/torch thread pools
    manager = context.Manager()
    events = manager.Queue()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with (
        Progress(*columns, disable=not show_progress) as progress,
        ProcessPoolExecutor(max_workers=len(config.cameras), mp_context=context) as pool,
    ):
        tasks = {c.id: progress.add_task(c.id, total=None) for c in config.cameras}
        futures: dict[str, Future] = {
            c.id: pool.submit(
                _run_camera, c.model_dump(), config.model_dump(mode="json"), str(out_dir), threads, events
            )
            for c in config.cameras
        }
        results = follow(
            progress,
            tasks,
            events,
            futures,
            _outcome,
            lambda camera, result: f"{camera} {'done' if isinstance(result, CameraReport) else 'FAILED'}",
        )
    manager.shutdown()
    return results


def _outcome(future: Future) -> CameraReport | str:
    try:
        return CameraReport(**future.result())
    except MtmcError as exc:
        return str(exc)
    except Exception as exc:  # a bug in a camera process: keep the others, say what happened
        return f"{type(exc).__name__}: {exc}"
