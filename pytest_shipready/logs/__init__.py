"""SR5xx structured logs: ``lines`` validates what a process wrote, ``setup`` runs the app's
logging setup (SR510), ``capture`` backs the ``shipready_log_capture`` fixture; ``area``
plans the items.
"""
