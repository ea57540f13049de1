"""ABI and bytecode of the registry contract, compiled by scripts/compile_contracts.js."""
