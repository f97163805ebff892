"""Personal data and GDPR Art. 9 data in model inputs and outputs; the detector is
``detectors.pii.detector.PIIDetector``.

Floors, each importing only those below it: ``entities`` (what is looked for); ``words``,
``street_types`` and ``regex_recognizer`` (building blocks); the recognizers (``addresses``,
``people``, ``numbers``, ``emails``, ``special``) and their list in ``recognizers``; ``spans``
(raw results to findings); ``engine`` (Presidio and spaCy); ``detector`` on top.
"""
