"""`python -m log_analytics_engine.cli` runs the command line."""

from log_analytics_engine.cli.app import main

main()
