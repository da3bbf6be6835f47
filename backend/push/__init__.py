"""Push delivery behind one small interface: Firebase Cloud Messaging or the local transport."""
