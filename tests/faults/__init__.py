"""The fault suite: proxies that cut, stall and slow links, clusters, killed processes, soak.

Marked ``faults``; left out of the default run and run by ``.ci/run`` after it.
"""
