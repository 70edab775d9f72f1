"""The hosted file server (spec §2): SSH keys users register, the SFTP endpoint, and the account's tree."""
