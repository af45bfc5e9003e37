"""The harness: launch the servers, load them, watch them, store and draw the figures."""
