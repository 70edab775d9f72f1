"""Identity rules: roles, who may call which route, passwords, tokens, sessions and login throttling."""
