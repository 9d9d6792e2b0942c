# From boltons==26.2.0, boltons/strutils.py (BSD-3-Clause, Copyright (c) 2013, Mahmoud Hashemi)

def under2camel(under_string):
    """Converts an underscored string to camelcased. Useful for turning a
    function name into a class name.

    >>> under2camel('complex_tokenizer')
    'ComplexTokenizer'
    """
    return ''.join(w.capitalize() or '_' for w in under_string.split('_'))
