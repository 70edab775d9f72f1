"""How work reaches the scheduler: the command consumer."""
