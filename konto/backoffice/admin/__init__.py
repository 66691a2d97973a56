"""What vendor staff see and edit in the back office: vendor, orgs, users, access, catalog, contracts, billing, audit.

Every model is registered on `backoffice_site`, never on Django's default
site. Changes to orgs, license pools and API tokens go through services (each
its own durable transaction, with an audit event); the catalog, the vendor
record, profiles and permission sets are saved by the admin's model forms
after the catalog and form rules have checked them.
"""

# Importing the submodules registers their model admins on `backoffice_site`
# (the app config imports this package in ready()).
from konto.backoffice.admin import (  # noqa: F401
    access,
    billing,
    catalog,
    contracts,
    dunning,
    orgs,
    payments,
    records,
    users,
    vendor,
)
