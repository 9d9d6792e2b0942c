# From boltons==26.2.0, boltons/iterutils.py (BSD-3-Clause, Copyright (c) 2013, Mahmoud Hashemi)

def rstrip_iter(iterable, strip_value=None):
    """Strips values from the end of an iterable. Stripped items will
    match the value of the argument strip_value. Functionality is analogous
    to that of the method str.rstrip. Returns a generator.

    >>> list(rstrip_iter(['Foo', 'Bar', 'Bam'], 'Bam'))
    ['Foo', 'Bar']

    """
    iterator = iter(iterable)
    for i in iterator:
        if i == strip_value:
            cache = list()
            cache.append(i)
            broken = False
            for i in iterator:
                if i == strip_value:
                    cache.append(i)
                else:
                    broken = True
                    break
            if not broken:  # Return to caller here because the end of the
                return     # iterator has been reached
            yield from cache
        yield i
