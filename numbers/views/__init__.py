"""The numbers' staff screens, one module per concern: transfers and their approvals,
withdrawals, and the lifecycle and identity screens that open from the admin pages."""
