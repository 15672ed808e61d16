"""The end-to-end CPU demo: pre-train → convert (verified) → fine-tune → evaluate → draw."""
