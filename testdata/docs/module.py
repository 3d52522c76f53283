"""Tiny module whose docstrings are checked.

>>> mean([1, 2, 3])
2.0
"""


def mean(values):
    """The arithmetic mean.

    >>> mean([4, 6])
    5.0
    >>> mean([])
    Traceback (most recent call last):
    ValueError: mean of nothing
    """
    if not values:
        raise ValueError("mean of nothing")
    return sum(values) / len(values)


if __name__ == "__main__":
    raise SystemExit("imported by check-docs, not run as a script")
