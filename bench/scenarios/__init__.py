"""Side scenarios on top of the harness's core: the capacity sweep, C10K (scale, holder), slow
clients, the wrk cross-check, the ceiling against peer servers, hostile input, the load
generator's overhead; and `steps.run_scenarios`, the full profile's step that runs some of them."""
