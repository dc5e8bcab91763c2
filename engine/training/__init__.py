"""Training code: the tiny-shapes test kit (shapes.py) and brand styles (style.py, `python -m engine train-style`).

Kept apart from the serving path: nothing under engine/ imports this package at start-up.
"""
