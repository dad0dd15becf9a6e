"""The msksim workshop app (Solara): `viz/app.py` is the page; the logic lives in plain modules
(`settings`: choices -> config and command line; `sim`: live and compared runs; `charts`:
figures and plain-language sentences) so it can be tested without a browser."""
