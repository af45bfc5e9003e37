"""Small web servers, one per concurrency model, over one shared sans-IO protocol core.

`python -m servers MODEL module:callable` runs any of them; `python -m servers --list` lists them.
"""

__version__ = "0.1.0"
