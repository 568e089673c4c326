"""Background work: the pending-payment sweeper, order expiry and refund follow-up.

Any number of workers and API processes may share one database: rows are claimed with
``SELECT … FOR UPDATE SKIP LOCKED`` plus a lease with an expiry (``lease_until``), so a worker that
dies mid-job only delays that row until its lease runs out.
"""
