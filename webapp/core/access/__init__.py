"""Who may do what: the users file (names, roles, token hashes) and sign-in sessions."""
