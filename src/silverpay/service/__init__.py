"""Use cases. Each is a plain async function over a ServiceContext; none holds a database
transaction open across a call to WeChat."""
