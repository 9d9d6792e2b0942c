# From boltons==26.2.0, boltons/tableutils.py (BSD-3-Clause, Copyright (c) 2013, Mahmoud Hashemi)

class InputType:
    def __init__(self, *a, **kw):
        pass

    def get_entry_seq(self, data_seq, headers):
        return [self.get_entry(entry, headers) for entry in data_seq]
