"""Resolution latency: series of lookups measured inside nodes, and their statistics."""
