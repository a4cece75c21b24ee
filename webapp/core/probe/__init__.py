"""Looking inside an environment: the stand-alone probe script (run by the environment's own
interpreter, never imported here) and the runner that starts it and caches its answer."""
