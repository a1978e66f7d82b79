"""``edgekit serve``: an inference endpoint on the device (the ``serve`` extra).

- :mod:`.server`: the server's life cycle on Uvicorn, live model updates, the summary;
- :mod:`.app`: the routes (Starlette); :mod:`.guard`: access check and metrics per request;
- :mod:`.pool`: replicas of the model, the bounded queue, swaps between requests;
- :mod:`.jobs`: one image through one interpreter; :mod:`.uploads`: bytes to images;
- :mod:`.limits`, :mod:`.answers`, :mod:`.metrics`: bounds, answers, Prometheus counters.
"""
