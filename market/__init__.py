"""The App Market's domain: one package of rooms, in the order money and data flow.

    core → (data, outbound) → accounts → catalog → billing → entitlement → oauth →
    api, notifications → reviews → stats → recommendations → dashboards → jobs

A room imports only `core`, the data layer and earlier rooms (checked by import-linter, see
`.importlinter`). A later room hears about an earlier room's changes through the signals each
room declares in its `signals.py`; `market.wiring.connect_signals` connects them all in one
place. Only `web.py` modules read Flask's request context.
"""
