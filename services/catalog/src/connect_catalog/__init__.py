"""connect-catalog: Projects every event into the job, table and run read models."""
