# From boltons==26.2.0, boltons/fileutils.py (BSD-3-Clause, Copyright (c) 2013, Mahmoud Hashemi)
import sys


def path_to_unicode(path):
    if isinstance(path, str):
        return path
    encoding = sys.getfilesystemencoding() or sys.getdefaultencoding()
    return path.decode(encoding)
