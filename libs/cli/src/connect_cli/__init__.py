"""connect: the command line for Connect's REST API."""
