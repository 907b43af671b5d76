"""The desk's pages, one module each; plain functions of a request (run in a worker thread,
since they read the store)."""
