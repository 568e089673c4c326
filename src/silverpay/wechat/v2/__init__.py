"""WeChat Pay API v2: XML bodies signed with the merchant's API key (SPEC §2)."""
