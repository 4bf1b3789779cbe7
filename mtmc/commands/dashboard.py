"""``mtmc dashboard``: the dashboard's identity pages, searches and camera graph over a run's
sightings database: a finished run's, or a running one's from another process; it writes nothing but
the corrections made on its identity pages."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

HELP = "serve a run's sightings (journeys, clips, search, camera graph, corrections) as the web dashboard"
DESCRIPTION = """\
Serve OUT/sightings.db (or the database file given) as the dashboard: each identity's journey
(/identity/N: its sightings in time order with cameras, times, travel times and thumbnails), a
search box (by id, by colour/type/camera/time, by an uploaded picture) and the camera graph
(cameras, the links between them with counts and travel-time histograms, views that overlap, and
the network the matcher learnt, from OUT/topology.learnt.yaml). Each sighting's frame and a short
clip are cut from OUT/videos/<camera>.mp4, else from the camera's source (OUT/cameras.csv, or
--config). Nothing is written but corrections made on the identity pages (split, merge, flag).

It listens on 127.0.0.1 unless --host says otherwise; any other host needs a token (--token,
dashboard.token in --config, or the MTMC_DASHBOARD_TOKEN variable), which every client then sends
(Authorization: Bearer TOKEN, or the page opened once with ?token=TOKEN). Search by picture embeds
the picture with the run's embedder, which the matcher records in the store (--config overrides it;
a store written before mtmc recorded it gets the default vehicle embedder, said on stderr).
"""
EPILOG = """\
examples:
  mtmc dashboard runs/city
  mtmc dashboard runs/city/sightings.db --port 8800
  MTMC_DASHBOARD_TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))') \\
    mtmc dashboard runs/city --host 0.0.0.0
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "dashboard", help=HELP, description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("where", metavar="OUT|DB", help="a run's output folder (its sightings.db), a sightings database file or a postgresql:// URL")
    p.add_argument("--host", help="address to serve on (default: dashboard.host of --config, else 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free one)")
    p.add_argument("--token", help="the token clients must send (default: dashboard.token, else $MTMC_DASHBOARD_TOKEN)")
    p.add_argument("--config", metavar="CONFIG", help="the run's config: its dashboard: (host, token), and its embedder for search by picture instead of the recorded one")
    p.set_defaults(run=run, command="dashboard")


def store_view(where: str | Path, config: Any = None) -> Any:
    """A :class:`StoreView` over the store ``where`` names (a run's folder, a ``.db`` file, a
    ``postgresql://`` URL), checked now: a missing or foreign one is one line."""
    from mtmc.dashboard.footage import Footage, sources_from_csv
    from mtmc.dashboard.pictures import picture_search_for
    from mtmc.dashboard.sightings import StoreView, read_learnt
    from mtmc.errors import MtmcError
    from mtmc.runtime.matcher import LEARNT_TOPOLOGY
    from mtmc.store import database_of, read_store
    from mtmc.store.image_search import embedder_part

    target = database_of(where)
    store = read_store(target)  # checked now; where: its path, or its URL without the password
    try:
        shown = store.where
        try:
            part = embedder_part(config, store)  # the config's, else the one the run recorded
        except MtmcError:  # a motion-only run: the page says search by picture is off
            part = None
    finally:
        store.close()
    out_dir = None if isinstance(target, str) else Path(target).parent
    learnt_file = None if out_dir is None else out_dir / LEARNT_TOPOLOGY
    search, missing = picture_search_for(part)
    # clips: OUT/videos/<camera>.mp4, else the sources OUT/cameras.csv (or --config) names
    sources = {} if out_dir is None else sources_from_csv(out_dir)
    if config is not None:
        sources.update({c.id: str(c.source) for c in config.cameras})
    footage = Footage(sources, None if out_dir is None else out_dir / "videos")
    return StoreView(
        lambda: read_store(target), shown, learnt=(lambda: read_learnt(learnt_file)) if learnt_file else None,
        image_search=search, image_search_missing=missing, footage=footage,
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from mtmc.config import load_config
    from mtmc.dashboard import LiveState, serve
    from mtmc.dashboard.auth import token_from
    from mtmc.errors import MtmcError
    from mtmc.store import read_store

    if not 0 <= args.port <= 65535:
        raise MtmcError(f"--port must be 0 to 65535, got {args.port}")
    config = load_config(args.config) if args.config else None
    view = store_view(args.where, config)
    reader = read_store(args.where)
    try:
        cameras = reader.camera_names()
    finally:
        reader.close()
    host = args.host or (config.dashboard.host if config is not None else "127.0.0.1")
    token = token_from(args.token or (config.dashboard.token if config is not None else None))
    server, port = serve(LiveState(cameras), host, args.port, view=view, token=token, live=False)
    shown = f"[{host}]" if ":" in host else host
    print(f"dashboard: http://{shown}:{port}/ (a finished run: {view.where}, written only by corrections; Ctrl-C stops it)", file=sys.stderr, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0
