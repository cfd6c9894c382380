"""Streamlit glue the pages share, one job a module:

- `navigation`: every page runs through app.py (the pages-folder workaround);
- `picker`: the sidebar's model picker, in step with the address's ?model=NAME, and the catalog scanned once a run;
- `cached`: loaders and computations cached across sessions (models, atlases, test images, decodes, AUROCs);
- `selection`: the chosen model loaded (`Selection`, `current_selection`) and its partner;
- `state`: typed accessors for what one page leaves for another (the map's selection, the anomaly setting).
"""
