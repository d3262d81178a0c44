"""Models of the knowledge_base app."""
