"""Every global identity's sightings, stored as the matcher decides and revises them (``mtmc search``)."""

from mtmc.store.base import SCHEMA_VERSION, Sighting, SightingStore
from mtmc.store.opening import database_of, open_store, read_store
from mtmc.store.sql import SQLStore
from mtmc.store.sqlite import SQLiteStore

__all__ = ["SCHEMA_VERSION", "Sighting", "SightingStore", "SQLStore", "SQLiteStore", "database_of", "open_store", "read_store"]
