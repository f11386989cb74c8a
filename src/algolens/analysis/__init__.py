"""Pure analysis functions: tensors and small dataclasses in, tensors and dataclasses out.

Nothing here prints or draws; figures live in :mod:`algolens.report`.
"""
