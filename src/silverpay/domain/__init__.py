"""Pure business rules: no I/O, no framework, no ORM."""
