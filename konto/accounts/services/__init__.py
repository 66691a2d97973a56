"""Account use cases (writes), one submodule per area; import the submodule, this package re-exports nothing.

`users` (an org's users: invitations sent, billing access, licenses and
access, deactivation), `invitations` (accepting an invitation link),
`billing_profile` (the org's billing profile), `tokens` (API tokens), `login`
(login throttling). Each use case that writes is one durable transaction.
"""
