"""Export records as training datasets: SFT, DPO/ORPO, KTO and reward-model pairs.

``synthaug.export.formats`` holds the pure record-to-row functions;
``synthaug.export.command`` the ``synthaug export`` command.
"""
