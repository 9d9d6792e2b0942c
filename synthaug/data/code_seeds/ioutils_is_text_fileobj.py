# From boltons==26.2.0, boltons/ioutils.py (BSD-3-Clause, Copyright (c) 2013, Mahmoud Hashemi)

def is_text_fileobj(fileobj):
    if getattr(fileobj, 'encoding', False):
        # codecs.open and io.TextIOBase
        return True
    if getattr(fileobj, 'getvalue', False):
        # StringIO.StringIO / io.StringIO
        try:
            if isinstance(fileobj.getvalue(), str):
                return True
        except Exception:
            pass
    return False
