"""The long-running process: the APScheduler timer, the scan, the dispatcher and the lifecycle."""
