"""Who is calling: workspaces, their users and API keys (``fw_…``), roles and the request rate limit."""
