"""The platform's rules once, for both API versions (SPEC §2.3–2.9, §3.5–3.7).

Commands and results are typed (:mod:`.commands`); refusals are :class:`.failures.RuleFailure`
with a neutral :class:`.failures.Reason`. The v2 (XML) and v3 (JSON) adapters translate their wire
into commands, and results and reasons into their own vocabulary; nothing here knows either wire.
"""
