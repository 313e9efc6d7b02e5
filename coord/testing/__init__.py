"""Importable test kit: real server processes for the semantic, interop, benchmark and fault suites.

Nothing here is imported by the server itself.
"""
