def f():
    """
    >>> f()
    <BLANKLINE>
    """
    s = r"""unterminated
