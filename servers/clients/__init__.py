"""Working counterparts of the seed's two clients: a raw wire-level client and a flood."""
