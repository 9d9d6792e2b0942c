# From boltons==26.2.0, boltons/socketutils.py (BSD-3-Clause, Copyright (c) 2013, Mahmoud Hashemi)
import socket


class Error(socket.error):
    """A subclass of :exc:`socket.error` from which all other
    ``socketutils`` exceptions inherit.

    When using :class:`BufferedSocket` and other ``socketutils``
    types, generally you want to catch one of the specific exception
    types below, or :exc:`socket.error`.
    """
    pass
