"""Every global identity's sightings, stored as the matcher decides and revises them (``mtmc search``)."""

from mtmc.store.base import SCHEMA_VERSION, Sighting, SightingStore
from mtmc.store.sqlite import SQLiteStore, open_store

__all__ = ["SCHEMA_VERSION", "Sighting", "SightingStore", "SQLiteStore", "open_store"]
