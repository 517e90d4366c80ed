"""The domain: metrics, formulas, targets, pace, the fee engine, the ledger and its storage."""
