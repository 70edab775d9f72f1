"""The runner's I/O: PostgreSQL (ledger, staging, target tables), SFTP, CSV files, the vault."""
