"""connect-catalog: Projects every event into the job, table, run and command-outcome read models."""
