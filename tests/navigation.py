"""What each role's navigation must show, written out literally: (label, URL) in order.

Stated here by hand, not derived from the product's NAVIGATION, so a misspelled URL name or a link
dropped by mistake fails the page and browser tests. An area that gets built (docs, the customer
portal, KPIs) is added here with its URL when its link appears.
"""

from tourbrain_support.roles import CUSTOMER, Role

QUEUE = ("Queue", "/queue/")
ROADMAP = ("Roadmap", "/roadmap/")
MY_TICKETS = ("My tickets", "/portal/")
BETA_COHORT = ("Beta cohort", "/beta/")
KPIS = ("KPIs", "/kpis/")
ALERTS = ("Alerts", "/alerts/")
AUDIT = ("Audit", "/audit/")
SECURITY = ("Security", "/audit/security/")
GDPR = ("GDPR", "/audit/gdpr/")
ONCALL = ("On call", "/oncall/")
LAUNCH = ("Launch", "/launch/")
DOCS = ("Docs", "/docs/")
PRIVACY = ("Privacy", "/account/privacy/")
ADMIN = ("Admin", "/admin/")

EXPECTED_NAVIGATION: dict[str, list[tuple[str, str]]] = {
    CUSTOMER: [MY_TICKETS, DOCS, PRIVACY],
    Role.SUPPORT_REP: [QUEUE, ONCALL, DOCS, PRIVACY, ADMIN],
    Role.SUPPORT_LEAD: [QUEUE, ROADMAP, BETA_COHORT, KPIS, ALERTS, ONCALL, DOCS, PRIVACY, ADMIN],
    Role.ENGINEER: [QUEUE, ALERTS, ONCALL, DOCS, PRIVACY, ADMIN],
    Role.BILLING_ADMIN: [QUEUE, ONCALL, DOCS, PRIVACY, ADMIN],
    Role.PRODUCT_MANAGER: [ROADMAP, KPIS, ONCALL, DOCS, PRIVACY, ADMIN],
    Role.AUDITOR: [AUDIT, SECURITY, GDPR, DOCS, PRIVACY, ADMIN],
    Role.ADMIN: [
        QUEUE,
        ROADMAP,
        BETA_COHORT,
        KPIS,
        ALERTS,
        AUDIT,
        SECURITY,
        GDPR,
        ONCALL,
        LAUNCH,
        DOCS,
        PRIVACY,
        ADMIN,
    ],
}
