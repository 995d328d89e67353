"""Operations: what the operator sees of a running daemon (console, health, alerts, status)."""
