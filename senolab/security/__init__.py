"""Security: the access policy table, security headers (CSP) and log-in/token rate limits."""
