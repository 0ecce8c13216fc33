"""AsyncAPI test support: payload types of every kind, and the official parser (a node package)."""
