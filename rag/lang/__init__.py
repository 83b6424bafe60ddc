"""Language data and analysis: user messages, question profiles, per-language word lists."""
