"""The local lab: network namespaces as hosts, a real TLS CDC pipeline inside them."""
