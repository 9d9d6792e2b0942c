# From boltons==26.2.0, boltons/ecoutils.py (BSD-3-Clause, Copyright (c) 2013, Mahmoud Hashemi)
import json


def dumps(val, indent):
    if indent:
        return json.dumps(val, sort_keys=True, indent=indent)
    return json.dumps(val, sort_keys=True)
