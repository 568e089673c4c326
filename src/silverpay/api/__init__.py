"""HTTP entry points: thin FastAPI routes over silverpay.service."""
