"""Side-by-side benchmarks: ghsync against the tools a user would pick instead (`make bench`)."""
