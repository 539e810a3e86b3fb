"""The contract at the bottom: hookspecs, datatypes, options, values, errors, the registry."""
