"""Staff screens for complaint handlers, one module per concern: the queue and intake,
a complaint's page with its timeline and one form per action, and the actions by
what they act on (the complaint's moves, numbers and blocks, offers, the regulator).

Views read through ``complaints.selectors`` and write only by calling services.
Staff of other branches get a 403; staff of the branch who may not act see the
page read-only. A refusal by a service (ValidationError or PermissionDenied)
becomes a message and changes nothing. Every action is a POST to its own URL that
redirects back to the complaint (post/redirect/get), through the portal's action
view (backoffice.screens.post_action).
"""
