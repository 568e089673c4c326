"""`silverpay demo`: the walk-through (``walkthrough``) and the public demo credentials (``defaults``)."""
