"""The soak (issue 8): a live server under a fixed rate of mixed reads and writes for a bounded time.

`just soak` runs it for 5 minutes; `just check` (CI) for 30 seconds. docs/RELIABILITY.md states
the bounds and the last long run's numbers.
"""
