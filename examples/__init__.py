"""Examples of integrations with the App Market."""
