"""Live model updates for ``edgekit run`` and ``edgekit serve`` (see :mod:`.reloader`).

- :mod:`.watch`: notices that the model file was replaced (``stat`` polling);
- :mod:`.commands`: update commands over MQTT, ``{"model": "path", "sha256": "..."}``;
- :mod:`.reloader`: loads the new model beside the running one and hands it over.
"""
