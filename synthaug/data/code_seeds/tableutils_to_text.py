# From boltons==26.2.0, boltons/tableutils.py (BSD-3-Clause, Copyright (c) 2013, Mahmoud Hashemi)

def to_text(obj, maxlen=None):
    try:
        text = str(obj)
    except Exception:
        try:
            text = str(repr(obj))
        except Exception:
            text = str(object.__repr__(obj))
    if maxlen and len(text) > maxlen:
        text = text[:maxlen - 3] + '...'
        # TODO: inverse of ljust/rjust/center
    return text
