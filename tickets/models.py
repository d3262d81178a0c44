"""Models of the tickets app."""
