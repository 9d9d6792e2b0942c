"""Step code the method families share; it registers no step, and a family imports no other.

- ``rows``: ``dropped``, the error row of a step (over ``records.failed``).
- ``tasks``: ``ModelStep`` (requests -> parse -> record), ``generate_until`` and
  ``generated_rows`` (its answers as rows, failed calls as error rows).
- ``steps``: ``TextStep`` (one text column) and ``KeepRows`` (whole-input subset).
- ``embedders``: ``EmbedderParams`` and ``make_embedder``.
- ``generators``: ``GeneratorSource``, records from ``synthaug.mathgen`` generators.
- ``sampling``: ``sample`` / ``split_samples``, many samples of one request.
- ``logprobs``: ``forced_grammar`` / ``forced_tokens``, a text's log-probabilities by forced
  decoding.
- ``parsing``: ``parse_rating`` (AlpaGasus-style score JSON).
- ``code``: code blocks in replies, ``without_shadowing`` for tests.
- ``lists``: ``read_list``, a line list from a file or ``synthaug/data``.
"""
