"""connect-runner: Executes runs: SFTP transfer, staging, validation and one load transaction."""
