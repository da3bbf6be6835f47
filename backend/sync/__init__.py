"""Offline sync with the phone app: WatermelonDB's sync protocol (its schema endpoint, for now)."""
