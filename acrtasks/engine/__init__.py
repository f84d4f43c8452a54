"""The Docker engine, through docker-py: the boundary every stage that touches local images crosses (build,
push, pull, import, the chain's checks). ``client.Engine`` is the friendlier layer over docker-py's raw API."""
