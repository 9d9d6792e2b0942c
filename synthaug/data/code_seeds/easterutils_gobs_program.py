# From boltons==26.2.0, boltons/easterutils.py (BSD-3-Clause, Copyright (c) 2013, Mahmoud Hashemi)

def gobs_program():
    """
    A pure-Python implementation of Gob's Algorithm (2006). A brief
    explanation can be found here:
    https://www.youtube.com/watch?v=JbnjusltDHk
    """
    while True:
        print("Penus", end=" ")
