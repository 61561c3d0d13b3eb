"""Readers: one per format. Each turns bytes into a parsed value or raises ReadError (-> PGF100)."""
