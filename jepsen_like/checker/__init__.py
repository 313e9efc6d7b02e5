"""Checkers: linearizability against a model, and the history checkers the workloads need.

Every checker is pure: operations (or events) in, a result with a verdict out.
"""
