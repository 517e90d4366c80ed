"""The domain: metrics and formulas, targets and pace, the fee engine, the ledger and its storage."""
