"""Authorization matrix: every URL pattern x every role x whose object it is, against one literal table.

HOW TO ADD AN ENTRY (a new URL pattern without one fails `test_every_url_pattern_has_an_entry`):
  1. Find the pattern's key: its URL name with namespace (`tickets:queue`, `api-me`), or the route for an
     unnamed pattern. An admin model's pages are one entry in ADMIN_MODELS, keyed by the model's label.
  2. Add a row to URLS: (method, object kind or None, cells). Cells are nine outcomes in ROLES order
     (anonymous, customer, support_rep, support_lead, engineer, billing_admin, product_manager, auditor,
     admin). For a URL that takes an object, give a dict of cells per ownership: "own" (the user's own,
     or in their team), "other_team" (a colleague's, or another team's ticket) and "other_org" (someone's
     in another customer organization). POST rows send an empty form (API and event capture: `{}`), so an
     allowed role gets the form's answer (400, or a redirect with a message).
  3. Object kinds are made by `_world` below (ticket, attachment, saved_view, event, lockout, dsr,
     access_export, user, and for the customer side portal_ticket, portal_attachment, widget_attachment,
     beta_invitation, beta_token, login_link; for the help center kb_article and kb_video by slug, kb_article_pk
     and kb_article_version for the editor: "own" public, "other_team" internal, "other_org" a draft);
     URL arguments are filled from the kind (`KWARGS_OF_KIND`).
     Add a kind there if needed. A portal_ticket is the customer's own ("own"), another customer's of the same
     organization ("other_team": a plain member may not see it) or someone's in another organization.
  4. Widget API rows (keys starting "widget-") are requested with `Authorization: Bearer <token>`, a token
     minted for the role's user (tests/widget_tokens.py); anonymous sends none. Their cells are the answers
     to that token. Every widget row is also requested with the session alone (no token), and that must
     answer 401 for every role: the widget API accepts bearer tokens only, never the portal's session cookie.
     The exceptions are WIDGET_PUBLIC rows, which need no identity at all.
  Outcomes: a status code ("200", "400", "403", ...), "login" (redirect to /accounts/login/), "alogin"
  (redirect to /admin/login/), "index" (redirect to the admin index: the admin's "... doesn't exist"),
  "home" (redirect to the home page: staff opening a customer portal page), "portal" (redirect to /portal/:
  a customer's home), "302" (any other redirect). GET rows of POST-only URLs (the two logouts, the CSP
  report endpoint) expect 405: a POST would sign out.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import time, timedelta

import pytest
from django.contrib import admin
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from audit import gdpr
from audit.deployments import deployment_freeze_set
from audit.models import BackupRun, LoginLockout, SecurityCounter
from audit.sealing import seal_all
from audit.services import audit_record, deployment_record
from knowledge_base.models import Article, EmptySearch, Feedback, SuggestionOpen
from kpis.models import DailyMetric, MarketingSpend, PlanPrice, ProjectApiKey, RejectedEventCount
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory
from tests.knowledge_base.factories import ArticleFactory, VideoFactory
from tests.tickets.factories import TicketFactory
from tests.widget_tokens import bearer, claims, hs256, widget_settings  # noqa: F401 (widget_settings: a fixture)
from tickets import beta_invitations, portal_links, services, sla_policies
from tickets.models import (
    BetaFeedback,
    BetaSupportProfile,
    BouncingAddress,
    NpsSurvey,
    OrganizationEmailDomain,
    PortalLoginLink,
    QuarantinedEmail,
    SavedView,
    Ticket,
    TicketEmail,
    TicketIntake,
)
from tourbrain_support.alerting.models import AlertEvent, AlertRule, HttpProbe, ProbeSample, Silence
from tourbrain_support.models import WorkerHeartbeat
from tourbrain_support.notifications.outbox import outbox_enqueue
from tourbrain_support.roles import CUSTOMER, Role

pytestmark = pytest.mark.django_db

ANONYMOUS = "anonymous"
ROLES = (
    ANONYMOUS,
    CUSTOMER,
    Role.SUPPORT_REP,
    Role.SUPPORT_LEAD,
    Role.ENGINEER,
    Role.BILLING_ADMIN,
    Role.PRODUCT_MANAGER,
    Role.AUDITOR,
    Role.ADMIN,
)
OWNERSHIPS = ("own", "other_team", "other_org")

# fmt: off
# key: (method, object kind, cells)
#                                                   "anon   cust   rep    lead   eng    bill   pm     aud    admin"
URLS: dict[str, tuple[str, str | None, str | dict[str, str]]] = {
    "home": ("GET", None,                            "login  portal 200    200    200    200    200    200    200"),
    "healthz": ("GET", None,                        "200    200    200    200    200    200    200    200    200"),
    "readyz": ("GET", None,                         "200    200    200    200    200    200    200    200    200"),
    "metrics": ("GET", None,                        "200    200    200    200    200    200    200    200    200"),
    # POST-only, no session or CSRF needed (browsers send reports); an empty form is not a report type it reads.
    "csp-report": ("POST", None,                    "415    415    415    415    415    415    415    415    415"),
    "login": ("GET", None,                          "200    home   home   home   home   home   home   home   home"),
    "logout": ("GET", None,                         "405    405    405    405    405    405    405    405    405"),
    "admin:index": ("GET", None,                    "alogin alogin 200    200    200    200    200    200    200"),
    "admin:login": ("GET", None,                    "200    200    index  index  index  index  index  index  index"),
    "admin:logout": ("GET", None,                   "index  index  405    405    405    405    405    405    405"),
    "admin:password_change": ("GET", None,          "alogin alogin 200    200    200    200    200    200    200"),
    "admin:password_change_done": ("GET", None,     "alogin alogin 200    200    200    200    200    200    200"),
    "admin:autocomplete": ("GET", None,             "alogin alogin 403    403    403    403    403    403    403"),
    "admin:jsi18n": ("GET", None,                   "alogin alogin 200    200    200    200    200    200    200"),
    "admin:view_on_site": ("GET", None,             "alogin alogin 404    404    404    404    404    404    404"),
    "admin:auth_user_password_change": ("GET", "user", {
        "own":                                      "alogin alogin 403    403    403    403    403    403    200",
        "other_team":                               "alogin alogin 403    403    403    403    403    403    200",
        "other_org":                                "alogin alogin 403    403    403    403    403    403    200",
    }),
    "admin:app_list": ("GET", None,                 "alogin alogin 200    200    200    200    200    404    200"),
    "admin/(?P<url>.*)$": ("GET", None,             "alogin alogin 404    404    404    404    404    404    404"),
    "schema": ("GET", None,                         "200    200    200    200    200    200    200    200    200"),
    "swagger-ui": ("GET", None,                     "200    200    200    200    200    200    200    200    200"),
    "api-me": ("GET", None,                         "401    200    200    200    200    200    200    200    200"),
    "api-tickets-list": ("GET", None,               "401    403    200    200    200    200    403    403    200"),
    "api-tickets-detail": ("GET", "ticket", {
        "own":                                      "401    403    200    200    200    200    403    403    200",
        "other_team":                               "401    403    200    200    404    404    403    403    200",
        "other_org":                                "401    403    200    200    200    200    403    403    200",
    }),
    "api-tickets-reply": ("POST", "ticket", {
        "own":                                      "401    403    400    400    400    400    403    403    400",
        "other_team":                               "401    403    400    400    404    404    403    403    400",
        "other_org":                                "401    403    400    400    400    400    403    403    400",
    }),
    "api-tickets-note": ("POST", "ticket", {
        "own":                                      "401    403    400    400    400    400    403    403    400",
        "other_team":                               "401    403    400    400    404    404    403    403    400",
        "other_org":                                "401    403    400    400    400    400    403    403    400",
    }),
    "api-tickets-assign": ("POST", "ticket", {
        "own":                                      "401    403    400    400    400    400    403    403    400",
        "other_team":                               "401    403    400    400    404    404    403    403    400",
        "other_org":                                "401    403    400    400    400    400    403    403    400",
    }),
    "api-tickets-status": ("POST", "ticket", {
        "own":                                      "401    403    400    400    400    400    403    403    400",
        "other_team":                               "401    403    400    400    404    404    403    403    400",
        "other_org":                                "401    403    400    400    400    400    403    403    400",
    }),
    "api-tickets-priority": ("POST", "ticket", {
        "own":                                      "401    403    400    400    400    400    403    403    400",
        "other_team":                               "401    403    400    400    404    404    403    403    400",
        "other_org":                                "401    403    400    400    400    400    403    403    400",
    }),
    # Provider inbound email webhooks: no session or role opens them; off (404) until their secret is configured.
    "email-inbound-mailgun": ("POST", None,         "404    404    404    404    404    404    404    404    404"),
    "email-inbound-postmark": ("POST", None,        "404    404    404    404    404    404    404    404    404"),
    "audit-deployments": ("POST", None,             "401    401    401    401    401    401    401    401    401"),
    # The freeze answers the deploy token only (CI); the Vercel webhook is off (404) until its secret is set.
    "deployments-freeze": ("GET", None,             "401    401    401    401    401    401    401    401    401"),
    "deployments-vercel": ("POST", None,            "404    404    404    404    404    404    404    404    404"),
    "api-me-consents": ("GET", None,                "401    200    200    200    200    200    200    200    200"),
    "tickets:queue": ("GET", None,                  "login  403    200    200    200    200    403    403    200"),
    "tickets:claim": ("POST", None,                 "login  403    302    302    302    302    403    403    302"),
    "tickets:bulk": ("POST", None,                  "login  403    302    302    302    302    403    403    302"),
    "tickets:saved_view_create": ("POST", None,     "login  403    302    302    302    302    403    403    302"),
    "tickets:saved_view_delete": ("POST", "saved_view", {
        "own":                                      "login  403    302    302    302    302    403    403    302",
        "other_team":                               "login  403    404    404    404    404    403    403    404",
        "other_org":                                "login  403    404    404    404    404    403    403    404",
    }),
    "tickets:detail": ("GET", "ticket", {
        "own":                                      "login  403    200    200    200    200    403    403    200",
        "other_team":                               "login  403    200    200    404    404    403    403    200",
        "other_org":                                "login  403    200    200    200    200    403    403    200",
    }),
    "tickets:reply": ("POST", "ticket", {
        "own":                                      "login  403    400    400    400    400    403    403    400",
        "other_team":                               "login  403    400    400    404    404    403    403    400",
        "other_org":                                "login  403    400    400    400    400    403    403    400",
    }),
    "tickets:attachment": ("GET", "attachment", {
        "own":                                      "login  403    200    200    200    200    403    403    200",
        "other_team":                               "login  403    200    200    404    404    403    403    200",
        "other_org":                                "login  403    200    200    200    200    403    403    200",
    }),
    "tickets:status": ("POST", "ticket", {
        "own":                                      "login  403    400    400    400    400    403    403    400",
        "other_team":                               "login  403    400    400    404    404    403    403    400",
        "other_org":                                "login  403    400    400    400    400    403    403    400",
    }),
    "tickets:priority": ("POST", "ticket", {
        "own":                                      "login  403    400    400    400    400    403    403    400",
        "other_team":                               "login  403    400    400    404    404    403    403    400",
        "other_org":                                "login  403    400    400    400    400    403    403    400",
    }),
    "tickets:component": ("POST", "ticket", {
        "own":                                      "login  403    400    400    400    400    403    403    400",
        "other_team":                               "login  403    400    400    404    404    403    403    400",
        "other_org":                                "login  403    400    400    400    400    403    403    400",
    }),
    "tickets:assign": ("POST", "ticket", {
        "own":                                      "login  403    400    400    400    400    403    403    400",
        "other_team":                               "login  403    400    400    404    404    403    403    400",
        "other_org":                                "login  403    400    400    400    400    403    403    400",
    }),
    "tickets:roadmap": ("GET", None,                "login  403    403    200    403    403    200    403    200"),
    "tickets:roadmap_merge": ("POST", None,         "login  403    403    400    403    403    400    403    400"),
    "audit:events": ("GET", None,                   "login  403    403    403    403    403    403    200    200"),
    "audit:event": ("GET", "event", {
        "own":                                      "login  403    403    403    403    403    403    200    200",
        "other_team":                               "login  403    403    403    403    403    403    200    200",
        "other_org":                                "login  403    403    403    403    403    403    200    200",
    }),
    "audit:event_proof": ("GET", "event", {
        "own":                                      "login  403    403    403    403    403    403    200    200",
        "other_team":                               "login  403    403    403    403    403    403    200    200",
        "other_org":                                "login  403    403    403    403    403    403    200    200",
    }),
    "audit:export": ("GET", None,                   "login  403    403    403    403    403    403    200    200"),
    "audit:security": ("GET", None,                 "login  403    403    403    403    403    403    200    200"),
    "audit:lockout_lift": ("POST", "lockout", {
        "own":                                      "login  403    403    403    403    403    403    403    302",
        "other_team":                               "login  403    403    403    403    403    403    403    302",
        "other_org":                                "login  403    403    403    403    403    403    403    302",
    }),
    "audit:backups": ("GET", None,                  "login  403    403    403    403    403    403    200    200"),
    "audit:gdpr": ("GET", None,                     "login  403    403    403    403    403    403    200    200"),
    "audit:gdpr_request_new": ("POST", None,        "login  403    403    403    403    403    403    403    400"),
    "audit:gdpr_request": ("GET", "dsr", {
        "own":                                      "login  403    403    403    403    403    403    200    200",
        "other_team":                               "login  403    403    403    403    403    403    200    200",
        "other_org":                                "login  403    403    403    403    403    403    200    200",
    }),
    "audit:gdpr_request_export": ("GET", "dsr", {
        "own":                                      "login  403    403    403    403    403    403    403    200",
        "other_team":                               "login  403    403    403    403    403    403    403    200",
        "other_org":                                "login  403    403    403    403    403    403    403    200",
    }),
    "audit:privacy": ("GET", None,                  "login  200    200    200    200    200    200    200    200"),
    "audit:privacy_policy_accept": ("POST", None,   "login  400    400    400    400    400    400    400    400"),
    "audit:privacy_consent": ("POST", None,         "login  400    400    400    400    400    400    400    400"),
    "audit:privacy_request": ("POST", None,         "login  400    400    400    400    400    400    400    400"),
    "audit:privacy_erasure": ("GET", None,          "login  200    200    200    200    200    200    200    200"),
    "audit:privacy_export": ("GET", "access_export", {
        "own":                                      "login  200    200    200    200    200    200    200    200",
        "other_team":                               "login  404    404    404    404    404    404    404    404",
        "other_org":                                "login  404    404    404    404    404    404    404    404",
    }),
    # The beta cohort: support leads and admins only.
    "tickets:beta_cohort": ("GET", None,            "login  403    403    200    403    403    403    403    200"),
    "tickets:beta_invite": ("POST", None,           "login  403    403    400    403    403    403    403    400"),
    "tickets:beta_revoke": ("POST", "beta_invitation", {
        "own":                                      "login  403    403    302    403    403    403    403    302",
        "other_team":                               "login  403    403    302    403    403    403    403    302",
        "other_org":                                "login  403    403    302    403    403    403    403    302",
    }),
    # The customer portal: customers see their own tickets (a colleague's or another organization's is a 404,
    # as for a reference that does not exist); staff are sent to their home page.
    "tickets:portal": ("GET", None,                 "login  200    home   home   home   home   home   home   home"),
    "tickets:portal_new": ("GET", None,             "login  200    home   home   home   home   home   home   home"),
    "tickets:portal_suggestions": ("GET", None,     "login  400    home   home   home   home   home   home   home"),
    "tickets:portal_detail": ("GET", "portal_ticket", {
        "own":                                      "login  200    home   home   home   home   home   home   home",
        "other_team":                               "login  404    home   home   home   home   home   home   home",
        "other_org":                                "login  404    home   home   home   home   home   home   home",
    }),
    "tickets:portal_reply": ("POST", "portal_ticket", {
        "own":                                      "login  400    home   home   home   home   home   home   home",
        "other_team":                               "login  404    home   home   home   home   home   home   home",
        "other_org":                                "login  404    home   home   home   home   home   home   home",
    }),
    "tickets:portal_rate": ("POST", "portal_ticket", {
        "own":                                      "login  400    home   home   home   home   home   home   home",
        "other_team":                               "login  404    home   home   home   home   home   home   home",
        "other_org":                                "login  404    home   home   home   home   home   home   home",
    }),
    "tickets:portal_attachment": ("GET", "portal_attachment", {
        "own":                                      "login  200    home   home   home   home   home   home   home",
        "other_team":                               "login  404    home   home   home   home   home   home   home",
        "other_org":                                "login  404    home   home   home   home   home   home   home",
    }),
    # The weekly call of the customer's beta organization (the world gives it one).
    "tickets:portal_beta_call": ("GET", None,       "login  200    home   home   home   home   home   home   home"),
    # The invitation link: anyone holding it sees the join page (anonymous: a sign-up form; signed in: accept,
    # which refuses staff and other addresses); staff are sent home like on every portal page.
    "tickets:portal_beta_join": ("GET", "beta_token", {
        "own":                                      "200    200    home   home   home   home   home   home   home",
        "other_team":                               "200    200    home   home   home   home   home   home   home",
        "other_org":                                "200    200    home   home   home   home   home   home   home",
    }),
    # The sign-in link's GET only asks to confirm (mail scanners must not use it up): the link is the credential.
    "tickets:portal_login_link": ("GET", "login_link", {
        "own":                                      "200    200    200    200    200    200    200    200    200",
        "other_team":                               "200    200    200    200    200    200    200    200    200",
        "other_org":                                "200    200    200    200    200    200    200    200    200",
    }),
    # Survey links from email: the signed token is the credential, for anyone holding it; a bad one is 400 for
    # everyone (tests/tickets/test_csat_email.py and test_surveys.py open valid ones).
    "tickets:csat_rate": ("GET", None,              "400    400    400    400    400    400    400    400    400"),
    "tickets:nps_answer": ("GET", None,             "400    400    400    400    400    400    400    400    400"),
    "tickets:beta_feedback": ("GET", None,          "400    400    400    400    400    400    400    400    400"),
    "tickets:portal_login_link_request": ("POST", None,
                                                    "400    400    400    400    400    400    400    400    400"),
    # DEBUG only: gone (404) for everyone in any other configuration, the tests' included.
    "tickets:widget_demo": ("GET", None,            "404    404    404    404    404    404    404    404    404"),
    "tickets:widget_demo_token": ("GET", None,      "404    404    404    404    404    404    404    404    404"),
    # The widget API, with a bearer token of the role's user (see 4. above): customers only; a token naming
    # a staff account is refused (403 staff_account). Without a token: 401 for everyone.
    "widget-me": ("GET", None,                      "401    200    403    403    403    403    403    403    403"),
    "widget-nps": ("GET", None,                     "401    200    403    403    403    403    403    403    403"),
    # public: maintenance notices and open public incidents, read without a token (sign-in may be what is down)
    "widget-status": ("GET", None,                  "200    200    200    200    200    200    200    200    200"),
    "widget-suggestions": ("GET", None,             "401    400    403    403    403    403    403    403    403"),
    "widget-tickets": ("GET", None,                 "401    200    403    403    403    403    403    403    403"),
    "widget-ticket": ("GET", "portal_ticket", {
        "own":                                      "401    200    403    403    403    403    403    403    403",
        "other_team":                               "401    404    403    403    403    403    403    403    403",
        "other_org":                                "401    404    403    403    403    403    403    403    403",
    }),
    "widget-ticket-messages": ("POST", "portal_ticket", {
        "own":                                      "401    400    403    403    403    403    403    403    403",
        "other_team":                               "401    404    403    403    403    403    403    403    403",
        "other_org":                                "401    404    403    403    403    403    403    403    403",
    }),
    "widget-ticket-satisfaction": ("POST", "portal_ticket", {
        "own":                                      "401    400    403    403    403    403    403    403    403",
        "other_team":                               "401    404    403    403    403    403    403    403    403",
        "other_org":                                "401    404    403    403    403    403    403    403    403",
    }),
    "widget-ticket-attachment": ("GET", "widget_attachment", {
        "own":                                      "401    200    403    403    403    403    403    403    403",
        "other_team":                               "401    404    403    403    403    403    403    403    403",
        "other_org":                                "401    404    403    403    403    403    403    403    403",
    }),
    # Ticket page: email the customer a portal sign-in link (POST; queue roles, a redirect back to the ticket).
    "tickets:portal_link": ("POST", "ticket", {
        "own":                                      "login  403    302    302    302    302    403    403    302",
        "other_team":                               "login  403    302    302    404    404    403    403    302",
        "other_org":                                "login  403    302    302    302    302    403    403    302",
    }),
    # The help center: public pages for everyone, the anonymous included. Article and video kinds (see 3.):
    # "own" is a published public one, "other_team" a published internal one (staff who read the knowledge
    # base only; customers, anonymous readers and auditors get a 404, as for a slug that does not exist),
    # "other_org" an unpublished draft (a 404 for every reader: drafts are seen in the editor only).
    "knowledge_base:index": ("GET", None,           "200    200    200    200    200    200    200    200    200"),
    "knowledge_base:search": ("GET", None,          "200    200    200    200    200    200    200    200    200"),
    "knowledge_base:videos": ("GET", None,          "200    200    200    200    200    200    200    200    200"),
    "knowledge_base:article": ("GET", "kb_article", {
        "own":                                      "200    200    200    200    200    200    200    200    200",
        "other_team":                               "404    404    200    200    200    200    200    404    200",
        "other_org":                                "404    404    404    404    404    404    404    404    404",
    }),
    "knowledge_base:video": ("GET", "kb_video", {
        "own":                                      "200    200    200    200    200    200    200    200    200",
        "other_team":                               "404    404    200    200    200    200    200    404    200",
        "other_org":                                "404    404    404    404    404    404    404    404    404",
    }),
    # "Was this helpful?": an empty form redirects back to the article with a message; only readers of it vote.
    "knowledge_base:feedback": ("POST", "kb_article", {
        "own":                                      "302    302    302    302    302    302    302    302    302",
        "other_team":                               "404    404    302    302    302    302    302    404    302",
        "other_org":                                "404    404    404    404    404    404    404    404    404",
    }),
    "knowledge_base:video_feedback": ("POST", "kb_video", {
        "own":                                      "302    302    302    302    302    302    302    302    302",
        "other_team":                               "404    404    302    302    302    302    302    404    302",
        "other_org":                                "404    404    404    404    404    404    404    404    404",
    }),
    "api-kb-suggestions": ("GET", None,             "200    200    200    200    200    200    200    200    200"),
    # The editor: reps, leads and admins write (any article: public, internal or draft); leads and admins
    # publish (a rep's status change is refused inside the page) and read the report.
    "knowledge_base:manage_list": ("GET", None,     "login  403    200    200    403    403    403    403    200"),
    "knowledge_base:manage_new": ("GET", None,      "login  403    200    200    403    403    403    403    200"),
    "knowledge_base:manage_report": ("GET", None,   "login  403    403    200    403    403    403    403    200"),
    "knowledge_base:manage_edit": ("GET", "kb_article_pk", {
        "own":                                      "login  403    200    200    403    403    403    403    200",
        "other_team":                               "login  403    200    200    403    403    403    403    200",
        "other_org":                                "login  403    200    200    403    403    403    403    200",
    }),
    "knowledge_base:manage_history": ("GET", "kb_article_pk", {
        "own":                                      "login  403    200    200    403    403    403    403    200",
        "other_team":                               "login  403    200    200    403    403    403    403    200",
        "other_org":                                "login  403    200    200    403    403    403    403    200",
    }),
    # An empty form is an unknown action: a redirect back to the editor with a message.
    "knowledge_base:manage_status": ("POST", "kb_article_pk", {
        "own":                                      "login  403    302    302    403    403    403    403    302",
        "other_team":                               "login  403    302    302    403    403    403    403    302",
        "other_org":                                "login  403    302    302    403    403    403    403    302",
    }),
    # Restoring the latest version (a rep's restore of a published article sends it to review).
    "knowledge_base:manage_restore": ("POST", "kb_article_version", {
        "own":                                      "login  403    302    302    403    403    403    403    302",
        "other_team":                               "login  403    302    302    403    403    403    403    302",
        "other_org":                                "login  403    302    302    403    403    403    403    302",
    }),
    # On-call (roles.ONCALL_VIEW_ROLES see, ONCALL_ACT_ROLES act), the public status page, the admins' launch page.
    "oncall:oncall": ("GET", None,                  "login  403    200    200    200    200    200    403    200"),
    "oncall:page_detail": ("GET", "oncall_page",    "login  403    200    200    200    200    200    403    200"),
    "oncall:page_acknowledge": ("POST", "oncall_page", "login  403    403    302    302    403    403    403    302"),
    "oncall:page_incident": ("POST", "oncall_page", "login  403    403    302    302    403    403    403    302"),
    "oncall:page_resolve": ("POST", "oncall_page",  "login  403    403    302    302    403    403    403    302"),
    # The signed link of a page's email/SMS is its own credential: anyone holding it sees the buttons.
    "oncall:page_link": ("GET", "page_token",       "200    200    200    200    200    200    200    200    200"),
    "oncall:incidents": ("GET", None,               "login  403    200    200    200    200    200    403    200"),
    "oncall:incident_detail": ("GET", "incident",   "login  403    200    200    200    200    200    403    200"),
    "oncall:status": ("GET", None,                  "200    200    200    200    200    200    200    200    200"),
    "oncall:launch": ("GET", None,                  "login  403    403    403    403    403    403    403    200"),
    # KPIs: support leads, product managers and admins (roles.KPI_ROLES).
    "alerting:alerts": ("GET", None,                "login  403    403    200    200    403    403    403    200"),
    "alerting:silences": ("GET", None,              "login  403    403    200    200    403    403    403    200"),
    "alerting:silence_expire": ("POST", "silence", {
        "own":                                      "login  403    403    302    302    403    403    403    302",
        "other_team":                               "login  403    403    302    302    403    403    403    302",
        "other_org":                                "login  403    403    302    302    403    403    403    302",
    }),
    "admin:alerting_alertrule_import": ("GET", None,
                                                    "alogin alogin 403    403    403    403    403    403    200"),
    "admin:alerting_alertrule_export": ("GET", None,
                                                    "alogin alogin 403    200    200    403    403    403    200"),
    "kpis:dashboard": ("GET", None,                 "login  403    403    200    403    403    200    403    200"),
    "kpis:metrics": ("GET", None,                   "login  403    403    200    403    403    200    403    200"),
    "kpis:metric-csv": ("GET", None,                "login  403    403    200    403    403    200    403    200"),
    "kpis:funnel-csv": ("GET", None,                "login  403    403    200    403    403    200    403    200"),
    "kpis:retention-csv": ("GET", None,             "login  403    403    200    403    403    200    403    200"),
    # Scorecard targets: product managers and admins only (an empty form is a form error: 400).
    "kpis:targets": ("GET", None,                   "login  403    403    403    403    403    200    403    200"),
    # Event capture takes a project API key (PostHog-compatible paths, and the native API as a Bearer token),
    # never a session: without a key, 401 for everyone.
    "kpis:capture": ("POST", None,                  "401    401    401    401    401    401    401    401    401"),
    "kpis:capture-batch": ("POST", None,            "401    401    401    401    401    401    401    401    401"),
    "kpis:capture-e": ("POST", None,                "401    401    401    401    401    401    401    401    401"),
    "kpis:capture-i-v0-e": ("POST", None,           "401    401    401    401    401    401    401    401    401"),
    "api-kpi-events": ("POST", None,                "401    401    401    401    401    401    401    401    401"),
    # OpenAI usage takes the KPI health token (unset here), never a session.
    "api-kpi-openai-usage": ("POST", None,          "401    401    401    401    401    401    401    401    401"),
    # The Vercel log drain takes a signed body only (no secret configured here: every delivery is refused).
    "kpis:vercel-log-drain": ("POST", None,         "403    403    403    403    403    403    403    403    403"),
}

# Admin model pages: the changelist and a change page of one row (tickets and attachments per ownership);
# "index" is the admin's "... doesn't exist" redirect to its index.
#                                                   "anon   cust   rep    lead   eng    bill   pm     aud    admin"
ADMIN_MODELS: dict[str, dict[str, str | dict[str, str]]] = {
    "auth.Group": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "django_celery_beat.PeriodicTask": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "django_celery_beat.ClockedSchedule": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "django_celery_beat.CrontabSchedule": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "django_celery_beat.SolarSchedule": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "django_celery_beat.IntervalSchedule": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "tourbrain_support.User": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "tourbrain_support.Organization": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "tourbrain_support.WorkerHeartbeat": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "notifications.OutboxMessage": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "tickets.QuarantinedEmail": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "tickets.TicketIntake": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "tickets.TicketEmail": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "tickets.BouncingAddress": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "tickets.Ticket": {
        "changelist":                               "alogin alogin 200    200    200    200    200    403    200",
        "change": {
            "own":                                  "alogin alogin 200    200    200    200    index  403    200",
            "other_team":                           "alogin alogin 200    200    index  index  index  403    200",
            "other_org":                            "alogin alogin 200    200    200    200    index  403    200",
        },
    },
    "tickets.Attachment": {
        "changelist":                               "alogin alogin 200    200    200    200    200    403    200",
        "change": {
            "own":                                  "alogin alogin 200    200    200    200    index  403    200",
            "other_team":                           "alogin alogin 200    200    index  index  index  403    200",
            "other_org":                            "alogin alogin 200    200    200    200    index  403    200",
        },
    },
    "tickets.Team": {
        "changelist":                               "alogin alogin 200    200    200    200    200    403    200",
        "change":                                   "alogin alogin 200    200    200    200    200    403    200",
    },
    "tickets.RoutingRule": {
        "changelist":                               "alogin alogin 200    200    200    200    200    403    200",
        "change":                                   "alogin alogin 200    200    200    200    200    403    200",
    },
    "tickets.BusinessCalendarConfig": {
        "changelist":                               "alogin alogin 200    200    200    200    200    403    200",
        "change":                                   "alogin alogin 200    200    200    200    200    403    200",
    },
    # Ticket app models: viewed by the ticket roles, changed by leads (roles.py, test_admin_matrix.py).
    "tickets.BetaSupportProfile": {
        "changelist":                               "alogin alogin 200    200    200    200    200    403    200",
        "change":                                   "alogin alogin 200    200    200    200    200    403    200",
    },
    "tickets.PortalLoginLink": {
        "changelist":                               "alogin alogin 200    200    200    200    200    403    200",
        "change":                                   "alogin alogin 200    200    200    200    200    403    200",
    },
    "tickets.NpsSurvey": {
        "changelist":                               "alogin alogin 200    200    200    200    200    403    200",
        "change":                                   "alogin alogin 200    200    200    200    200    403    200",
    },
    "tickets.BetaFeedback": {
        "changelist":                               "alogin alogin 200    200    200    200    200    403    200",
        "change":                                   "alogin alogin 200    200    200    200    200    403    200",
    },
    "tickets.OrganizationEmailDomain": {
        "changelist":                               "alogin alogin 200    200    200    200    200    403    200",
        "change":                                   "alogin alogin 200    200    200    200    200    403    200",
    },
    "tickets.SLAPolicy": {
        "changelist":                               "alogin alogin 200    200    200    200    200    403    200",
        "change":                                   "alogin alogin 200    200    200    200    200    403    200",
    },
    "audit.AuditEvent": {
        "changelist":                               "alogin alogin 403    403    403    403    403    200    200",
        "change":                                   "alogin alogin 403    403    403    403    403    200    200",
    },
    "audit.DeploymentRecord": {
        "changelist":                               "alogin alogin 403    403    403    403    403    200    200",
        "change":                                   "alogin alogin 403    403    403    403    403    200    200",
    },
    "audit.DeploymentFreeze": {
        "changelist":                               "alogin alogin 403    403    403    403    403    200    200",
        "change":                                   "alogin alogin 403    403    403    403    403    200    200",
    },
    "audit.AuditCheckpoint": {
        "changelist":                               "alogin alogin 403    403    403    403    403    200    200",
        "change":                                   "alogin alogin 403    403    403    403    403    200    200",
    },
    "audit.SecurityCounter": {
        "changelist":                               "alogin alogin 403    403    403    403    403    200    200",
        "change":                                   "alogin alogin 403    403    403    403    403    200    200",
    },
    "audit.LoginLockout": {
        "changelist":                               "alogin alogin 403    403    403    403    403    200    200",
        "change":                                   "alogin alogin 403    403    403    403    403    200    200",
    },
    "audit.PrivacyPolicyVersion": {
        "changelist":                               "alogin alogin 403    403    403    403    403    200    200",
        "change":                                   "alogin alogin 403    403    403    403    403    200    200",
    },
    "audit.ConsentRecord": {
        "changelist":                               "alogin alogin 403    403    403    403    403    200    200",
        "change":                                   "alogin alogin 403    403    403    403    403    200    200",
    },
    "audit.DataSubjectRequest": {
        "changelist":                               "alogin alogin 403    403    403    403    403    200    200",
        "change":                                   "alogin alogin 403    403    403    403    403    200    200",
    },
    "audit.CrossBorderTransfer": {
        "changelist":                               "alogin alogin 403    403    403    403    403    200    200",
        "change":                                   "alogin alogin 403    403    403    403    403    200    200",
    },
    "audit.BackupRun": {
        "changelist":                               "alogin alogin 403    403    403    403    403    200    200",
        "change":                                   "alogin alogin 403    403    403    403    403    200    200",
    },
    # Knowledge base: read by every role that reads the knowledge base, written by leads (roles.py).
    "knowledge_base.Category": {
        "changelist":                               "alogin alogin 200    200    200    200    200    403    200",
        "change":                                   "alogin alogin 200    200    200    200    200    403    200",
    },
    "knowledge_base.Article": {
        "changelist":                               "alogin alogin 200    200    200    200    200    403    200",
        "change":                                   "alogin alogin 200    200    200    200    200    403    200",
    },
    "knowledge_base.Feedback": {
        "changelist":                               "alogin alogin 200    200    200    200    200    403    200",
        "change":                                   "alogin alogin 200    200    200    200    200    403    200",
    },
    "knowledge_base.SuggestionOpen": {
        "changelist":                               "alogin alogin 200    200    200    200    200    403    200",
        "change":                                   "alogin alogin 200    200    200    200    200    403    200",
    },
    "knowledge_base.EmptySearch": {
        "changelist":                               "alogin alogin 200    200    200    200    200    403    200",
        "change":                                   "alogin alogin 200    200    200    200    200    403    200",
    },
    # Alerting: read by those who answer alerts (leads, engineers), edited by admins; silences only on /alerts/.
    **{
        label: {
            "changelist":                           "alogin alogin 403    200    200    403    403    403    200",
            "change":                               "alogin alogin 403    200    200    403    403    403    200",
        }
        for label in ("alerting.AlertRule", "alerting.HttpProbe", "alerting.ProbeSample", "alerting.AlertEvent",
                      "alerting.Silence")
    },
    # On-call, incidents and the launch checklist: admins only (pages and incidents change on their own pages).
    "oncall.Rotation": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "oncall.Responder": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "oncall.EscalationContact": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "oncall.Component": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "oncall.Page": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "oncall.Incident": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "oncall.LaunchItemTick": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    "oncall.LaunchDeliveryResult": {
        "changelist":                               "alogin alogin 403    403    403    403    403    403    200",
        "change":                                   "alogin alogin 403    403    403    403    403    403    200",
    },
    # KPIs: read by leads, read and written by product managers (roles.py).
    "kpis.ProjectApiKey": {
        "changelist":                               "alogin alogin 403    200    403    403    200    403    200",
        "change":                                   "alogin alogin 403    200    403    403    200    403    200",
    },
    "kpis.RejectedEventCount": {
        "changelist":                               "alogin alogin 403    200    403    403    200    403    200",
        "change":                                   "alogin alogin 403    200    403    403    200    403    200",
    },
    "kpis.PlanPrice": {
        "changelist":                               "alogin alogin 403    200    403    403    200    403    200",
        "change":                                   "alogin alogin 403    200    403    403    200    403    200",
    },
    "kpis.MarketingSpend": {
        "changelist":                               "alogin alogin 403    200    403    403    200    403    200",
        "change":                                   "alogin alogin 403    200    403    403    200    403    200",
    },
    "kpis.DailyMetric": {
        "changelist":                               "alogin alogin 403    200    403    403    200    403    200",
        "change":                                   "alogin alogin 403    200    403    403    200    403    200",
    },
}
# fmt: on


# --- the world: one user per test, and objects of each ownership ---------------------------------


@dataclass
class World:
    user: object
    objects: dict[tuple[str, str], object] = field(default_factory=dict)
    admin_rows: dict[str, object] = field(default_factory=dict)


def _upload() -> SimpleUploadedFile:
    return SimpleUploadedFile("note.txt", b"plain text", content_type="text/plain")


def _world(role: str, make_user) -> World:
    """The signed-in user and, for each object kind, one of theirs, a colleague's and another organization's."""
    org, other_org = OrganizationFactory(), OrganizationFactory()
    user = None if role == ANONYMOUS else make_user(None if role == CUSTOMER else role)
    customer = user if role == CUSTOMER else make_user()
    MembershipFactory(user=customer, organization=org)
    stranger = make_user()  # a customer of another organization
    MembershipFactory(user=stranger, organization=other_org)
    colleague = make_user(Role.BILLING_ADMIN if role == Role.ENGINEER else Role.ENGINEER)
    handler = make_user(Role.ADMIN)
    owner = {"own": user or customer, "other_team": colleague, "other_org": stranger}
    world = World(user=user)
    for ownership, person in owner.items():
        world.objects["user", ownership] = person

    # Tickets: in the user's team (support unless they are engineering or billing), another team's, and one
    # of the user's team from another organization.
    own_type = {Role.ENGINEER: Ticket.Type.BUG, Role.BILLING_ADMIN: Ticket.Type.BILLING}.get(role, Ticket.Type.QUESTION)
    other_type = Ticket.Type.QUESTION if own_type != Ticket.Type.QUESTION else Ticket.Type.BUG
    tickets = {
        "own": TicketFactory(requester=customer, organization=org, type=own_type),
        "other_team": TicketFactory(requester=customer, organization=org, type=other_type),
        "other_org": TicketFactory(requester=stranger, organization=other_org, type=own_type),
    }
    for ownership, ticket in tickets.items():
        world.objects["ticket", ownership] = ticket
        message = services.ticket_reply(ticket=ticket, author=ticket.user, body="file", attachments=[_upload()])
        world.objects["attachment", ownership] = message.attachments.get()
        world.objects["saved_view", ownership] = SavedView.objects.create(owner=owner[ownership], name="v", filters={})
        audit_record(actor=owner[ownership], action="update", resource_type="user", resource_id=owner[ownership].pk)
        world.objects["lockout", ownership] = LoginLockout.objects.create(
            scope=LoginLockout.Scope.ACCOUNT,
            key=f"matrix-{ownership}",
            user=owner[ownership],
            label=f"user {owner[ownership].pk}",
            failures=5,
            lockouts=1,
            locked_until=timezone.now() + timedelta(hours=1),
        )
        # A completed access request (the person downloads it) and an open one (staff export it).
        for kind, last in (("access_export", "completed"), ("dsr", "in_progress")):
            request = gdpr.dsr_create(kind="access", subject=owner[ownership], actor=handler)
            for status in ("verifying", "in_progress", "completed")[: 3 if last == "completed" else 2]:
                request = gdpr.dsr_transition(dsr=request, status=status, actor=handler)
            world.objects[kind, ownership] = request
    seal_all(wait_seconds=0)
    from audit.models import AuditEvent

    for ownership in OWNERSHIPS:
        world.objects["event", ownership] = AuditEvent.objects.filter(actor=owner[ownership]).latest("id")

    _customer_side(world, customer=customer, org=org, stranger=stranger, other_org=other_org, inviter=handler)
    _knowledge_base_and_kpis(world, reader=customer)

    # One row of every other model the admin shows.
    outbox_enqueue(
        kind="sla.warning", channel="email", recipient="x@example.test", subject="s", body="b", idempotency_key="m"
    )
    WorkerHeartbeat.objects.create(worker="matrix@host", beat_at=timezone.now())
    QuarantinedEmail.objects.create(raw=b"Subject: x\n\nbody", sender="a@example.com", reason="matrix")
    TicketEmail.objects.create(
        ticket=world.objects["ticket", "own"], direction="inbound", message_id="matrix@example.com", raw=b"x"
    )
    BouncingAddress.objects.create(address="gone@example.com")
    TicketIntake.objects.create(
        ticket_id=999_999,
        reference="TB-999999",
        requester=customer,
        channel="widget",
        subject="s",
        accepted_at=timezone.now(),
        tier="general",
        sla_policy=sla_policies.active_policy(),
    )
    NpsSurvey.objects.create(user=customer, period=timezone.now().date(), score=9)
    BetaFeedback.objects.create(user=customer, round="2026-W01", conversion_intent="yes")
    OrganizationEmailDomain.objects.create(organization=org, domain="matrix.example.com")
    deployment_record(version="1.0", deployed_by="ci")
    deployment_freeze_set(reason="Matrix freeze", source="api")
    SecurityCounter.objects.create(kind=SecurityCounter.Kind.values[0], bucket=timezone.now(), source="s", count=1)
    policy = gdpr.policy_version_publish(version="2026-matrix")
    gdpr.consent_record(user=customer, purpose="privacy_policy", granted=True, source="portal", policy_version=policy)
    gdpr.transfer_record(recipient="slack", country="US", legal_basis="dpf", data_categories=["contact"])
    BackupRun.objects.create(kind=BackupRun.Kind.BACKUP, status=BackupRun.Status.SUCCEEDED)
    _celery_beat_rows()
    _oncall(world)
    return world


def _oncall(world: World) -> None:
    """One row of each on-call model; the same page, incident and signed link for every ownership."""
    from tourbrain_support.oncall import paging
    from tourbrain_support.oncall.models import (
        Component,
        EscalationContact,
        Incident,
        IncidentUpdate,
        LaunchDeliveryResult,
        LaunchItemTick,
        Override,
        Page,
        Responder,
        Rotation,
        RotationMember,
    )

    responder = Responder.objects.create(user=UserFactory(), phone="+15005550001")
    rotation = Rotation.objects.create(name="matrix")
    RotationMember.objects.create(rotation=rotation, responder=responder)
    Override.objects.create(
        rotation=rotation,
        responder=responder,
        starts_at=timezone.now(),
        ends_at=timezone.now() + timedelta(days=1),
        reason="matrix",
    )
    EscalationContact.objects.create(name="matrix", email="matrix@example.test")
    component = Component.objects.create(name="matrix")
    page = Page.objects.create(key="matrix", severity="critical", title="matrix")
    incident = Incident.objects.create(title="matrix")
    incident.components.add(component)
    IncidentUpdate.objects.create(incident=incident, status=Incident.Status.INVESTIGATING, message="matrix")
    LaunchItemTick.objects.create(key="rollback_tested")
    LaunchDeliveryResult.objects.create(key="test_email", ok=True, detail="250 OK", ran_at=timezone.now())
    token = paging.page_link_token(page, paging.Target(name="matrix", email="", phone="", user_id=None))
    for ownership in OWNERSHIPS:
        world.objects["oncall_page", ownership] = page
        world.objects["incident", ownership] = incident
        world.objects["page_token", ownership] = token


def _customer_side(world: World, *, customer, org, stranger, other_org, inviter) -> None:
    """Portal and widget objects: the customer's ticket, a fellow member's, another organization's (each with a
    public attachment); beta invitations; sign-in links; the organization's beta profile with a weekly call."""
    member = UserFactory()  # a plain member of the customer's organization: not an organization admin
    MembershipFactory(user=member, organization=org)
    people = {"own": (customer, org), "other_team": (member, org), "other_org": (stranger, other_org)}
    for ownership, (person, organization) in people.items():
        ticket = TicketFactory(requester=person, organization=organization, type=Ticket.Type.QUESTION)
        message = services.ticket_reply(ticket=ticket, author=person, body="file", attachments=[_upload()])
        world.objects["portal_ticket", ownership] = ticket
        world.objects["portal_attachment", ownership] = world.objects["widget_attachment", ownership] = (
            message.attachments.get()
        )
        for kind in ("beta_invitation", "beta_token"):
            world.objects[kind, ownership] = beta_invitations.beta_invite(
                email=f"{kind}-{ownership}@example.test", organization=organization, actor=inviter
            )
        token = secrets.token_urlsafe(16)
        link = PortalLoginLink.objects.create(
            user=person,
            token_hash=portal_links._hash(token),
            expires_at=timezone.now() + timedelta(minutes=15),
        )
        world.objects["login_link", ownership] = signing.dumps(
            [link.pk, token], salt=portal_links.SIGNING_SALT, compress=True
        )
    BetaSupportProfile.objects.create(organization=org, call_weekday=2, call_time=time(15, 0))


def _knowledge_base_and_kpis(world: World, *, reader) -> None:
    """Articles and videos: "own" public, "other_team" internal, "other_org" a draft (all three are the editor's);
    one row of every other knowledge base and KPI model the admin shows."""
    audiences = {
        "own": (Article.Audience.PUBLIC, Article.Status.PUBLISHED),
        "other_team": (Article.Audience.INTERNAL, Article.Status.PUBLISHED),
        "other_org": (Article.Audience.PUBLIC, Article.Status.DRAFT),
    }
    for ownership, (audience, status) in audiences.items():
        article = ArticleFactory(audience=audience, status=status)
        world.objects["kb_article", ownership] = world.objects["kb_article_pk", ownership] = article
        world.objects["kb_article_version", ownership] = article
        world.objects["kb_video", ownership] = VideoFactory(audience=audience, status=status)
    public = world.objects["kb_article", "own"]
    Feedback.objects.create(article=public, user=reader, helpful=False, comment="unclear")
    SuggestionOpen.objects.create(article=public, user=reader, person_key=f"u:{reader.pk}", source="portal")
    EmptySearch.objects.create(query="matrix", day=timezone.now().date(), count=1)
    ProjectApiKey.objects.create(name="matrix")
    PlanPrice.objects.create(plan="professional", monthly_price=149, valid_from=timezone.now().date())
    MarketingSpend.objects.create(month=timezone.now().date().replace(day=1), amount_usd=1500)
    RejectedEventCount.objects.create(day=timezone.now().date(), reason="invalid", event_name="x", count=1)
    DailyMetric.objects.create(metric="matrix", day=timezone.now().date(), value=1, computed_at=timezone.now())
    rule = AlertRule.objects.create(name="Matrix", source="probe:database:down", threshold=1)
    HttpProbe.objects.create(name="matrix", url="http://127.0.0.1:9/")
    ProbeSample.objects.create(probe="matrix", status="healthy")
    AlertEvent.objects.create(rule=rule, kind="firing", instance=1)
    for ownership in OWNERSHIPS:
        world.objects["silence", ownership] = Silence.objects.create(
            matchers=[["alertname", "=", "Matrix"]], ends_at=timezone.now() + timedelta(hours=1), reason=ownership
        )


def _celery_beat_rows() -> None:
    from django_celery_beat.models import (
        ClockedSchedule,
        CrontabSchedule,
        IntervalSchedule,
        PeriodicTask,
        SolarSchedule,
    )

    interval = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.SECONDS)
    CrontabSchedule.objects.create(minute="0")
    SolarSchedule.objects.create(event="sunrise", latitude=51.5, longitude=0)
    ClockedSchedule.objects.create(clocked_time=timezone.now())
    PeriodicTask.objects.get_or_create(name="matrix", defaults={"task": "x", "interval": interval})


# --- enumeration of the URL configuration --------------------------------------------------------


@dataclass(frozen=True)
class Pattern:
    key: str  # URL name with namespace, or the route of an unnamed pattern
    route: str
    admin_model: str | None  # "app.Model" for an admin model's pages
    admin_page: str | None  # changelist, add, change, history, delete


def url_patterns() -> list[Pattern]:
    admin_names = {}
    for model in admin.site._registry:
        for page in ("changelist", "add", "change", "history", "delete", "simple_history"):
            admin_names[f"admin:{model._meta.app_label}_{model._meta.model_name}_{page}"] = (model._meta.label, page)
    found = []

    def walk(patterns, prefix: str, namespace: str) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, prefix + str(entry.pattern), inner)
            elif isinstance(entry, URLPattern):
                route = prefix + str(entry.pattern)
                name = f"{namespace}{entry.name}" if entry.name else None
                if name in admin_names:
                    model, page = admin_names[name]
                    found.append(Pattern(f"admin model {model}", route, model, page))
                elif name is None and route.startswith("admin/") and "<path:object_id>/" in route:
                    found.append(Pattern(f"admin model {_model_of_route(route)}", route, _model_of_route(route), None))
                else:
                    found.append(Pattern(name or route, route, None, None))

    walk(get_resolver().url_patterns, "", "")
    return found


def _model_of_route(route: str) -> str:
    # "admin/tickets/ticket/<path:object_id>/" -> the registered model's label
    app_label, model_name = route.split("/")[1:3]
    for model in admin.site._registry:
        if (model._meta.app_label, model._meta.model_name) == (app_label, model_name):
            return model._meta.label
    return route


# --- requests and outcomes -------------------------------------------------------------------------


def outcome(response) -> str:
    if response.status_code in (301, 302, 303, 307, 308):
        location = response["Location"]
        if location.startswith("/accounts/login/"):
            return "login"
        if location.startswith("/admin/login/"):
            return "alogin"
        if location == reverse("admin:index"):
            return "index"  # signed in already (admin login), or the admin's "... doesn't exist" message
        if location == reverse("home"):
            return "home"
        if location == reverse("tickets:portal"):
            return "portal"
        return "302"
    return str(response.status_code)


def _cells(spec: str | dict[str, str], ownership: str | None) -> dict[str, str]:
    text = spec if isinstance(spec, str) else spec[ownership]
    cells = text.split()
    assert len(cells) == len(ROLES), f"{len(cells)} cells, want {len(ROLES)}: {text!r}"
    return dict(zip(ROLES, cells, strict=True))


KWARGS_OF_KIND = {
    "ticket": lambda obj: {"reference": obj.reference},
    "attachment": lambda obj: {"reference": obj.message.ticket.reference, "pk": obj.pk},
    "saved_view": lambda obj: {"pk": obj.pk},
    "event": lambda obj: {"pk": obj.pk},
    "lockout": lambda obj: {"pk": obj.pk},
    "silence": lambda obj: {"pk": obj.pk},
    "dsr": lambda obj: {"pk": obj.pk},
    "access_export": lambda obj: {"pk": obj.pk},
    "user": lambda obj: {"id": obj.pk},
    "portal_ticket": lambda obj: {"reference": obj.reference},
    "portal_attachment": lambda obj: {"reference": obj.message.ticket.reference, "pk": obj.pk},
    "widget_attachment": lambda obj: {"reference": obj.message.ticket.reference, "attachment_id": obj.pk},
    "beta_invitation": lambda obj: {"pk": obj.pk},
    "beta_token": lambda obj: {"token": signing.dumps(obj.pk, salt=beta_invitations.SIGNING_SALT)},
    "login_link": lambda signed: {"signed": signed},
    "kb_article": lambda obj: {"slug": obj.slug},
    "kb_video": lambda obj: {"slug": obj.slug},
    "kb_article_pk": lambda obj: {"pk": obj.pk},
    "kb_article_version": lambda obj: {"pk": obj.pk, "history_id": obj.history.latest().history_id},
    "oncall_page": lambda obj: {"pk": obj.pk},
    "incident": lambda obj: {"pk": obj.pk},
    "page_token": lambda token: {"token": token},
}
# Arguments of patterns that take no object of the world.
FIXED_KWARGS = {
    "tickets:csat_rate": {"token": "not-a-signed-token"},
    "tickets:nps_answer": {"token": "not-a-signed-token"},
    "tickets:beta_feedback": {"token": "not-a-signed-token"},
    "audit:export": {"fmt": "csv"},
    "kpis:metric-csv": {"metric": "signups"},
    "admin:app_list": {"app_label": "tickets"},
}


# Event capture paths read a JSON body (a form is not one: 400), where a PostHog client puts the project key.
CAPTURE_PATHS = ("/batch/", "/capture/", "/e/", "/i/v0/e/")


def _request(client, method: str, url: str, headers: dict | None = None):
    if method == "GET":
        return client.get(url, **(headers or {}))
    if url.startswith("/api/") or url in CAPTURE_PATHS:
        return client.post(url, {}, content_type="application/json", **(headers or {}))
    return client.post(url, {})


def _widget_token(user) -> dict:
    """`Authorization: Bearer` headers with a widget token for the user (none for anonymous)."""
    if user is None:
        return {}
    return bearer(hs256(claims(sub=f"matrix-{user.pk}", email=user.email, name="Matrix")))


# Widget rows anyone may read, token or not (the maintenance notices must show while sign-in is down).
WIDGET_PUBLIC = {"widget-status"}


def _check_url(client, world: World, role: str, key: str, row) -> list[str]:
    method, kind, spec = row
    widget = key.startswith("widget-") and key not in WIDGET_PUBLIC
    wrong = []
    for ownership in OWNERSHIPS if kind else (None,):
        kwargs = KWARGS_OF_KIND[kind](world.objects[kind, ownership]) if kind else FIXED_KWARGS.get(key, {})
        url = _url_for(key, kwargs)
        if widget and (actual := outcome(_request(client, method, url))) != "401":
            wrong.append(f"{key} [{ownership or '-'}] {method} {url} with no token: expected 401, got {actual}")
        expected = _cells(spec, ownership)[role]
        actual = outcome(_request(client, method, url, _widget_token(world.user) if widget else None))
        if actual != expected:
            wrong.append(f"{key} [{ownership or '-'}] {method} {url}: expected {expected}, got {actual}")
    return wrong


def _url_for(key: str, kwargs: dict) -> str:
    if key == "admin/(?P<url>.*)$":
        return "/admin/no-such-page/"
    if key == "admin:view_on_site":
        return "/admin/r/1/1/"
    return reverse(key, kwargs=kwargs)


def _admin_object(world: World, label: str, ownership: str | None):
    if label == "tickets.Ticket":
        return world.objects["ticket", ownership]
    if label == "tickets.Attachment":
        return world.objects["attachment", ownership]
    model = next(model for model in admin.site._registry if model._meta.label == label)
    obj = model._default_manager.order_by("pk").first()
    assert obj is not None, f"no {label} row: create one in _world so its admin change page is checked"
    return obj


def _check_admin_model(client, world: World, role: str, label: str, pages) -> list[str]:
    model = next(model for model in admin.site._registry if model._meta.label == label)
    opts = model._meta
    wrong = []
    changelist = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    if (actual := outcome(client.get(changelist))) != (expected := _cells(pages["changelist"], None)[role]):
        wrong.append(f"admin model {label} changelist {changelist}: expected {expected}, got {actual}")
    spec = pages["change"]
    for ownership in OWNERSHIPS if isinstance(spec, dict) else (None,):
        obj = _admin_object(world, label, ownership)
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        expected = _cells(spec, ownership)[role]
        if (actual := outcome(client.get(url))) != expected:
            wrong.append(f"admin model {label} change [{ownership or '-'}] {url}: expected {expected}, got {actual}")
    return wrong


@pytest.fixture
def audit_dirs(settings, tmp_path):
    """A fixed signing key and per-test checkpoint folders (event proofs need a sealed checkpoint)."""
    settings.AUDIT_SIGNING_KEY = base64.b64encode(bytes(range(32))).decode()
    settings.AUDIT_CHECKPOINT_DIR = str(tmp_path / "checkpoints")
    settings.AUDIT_ARCHIVE_DIR = str(tmp_path / "archive")


# --- the tests ---------------------------------------------------------------------------------------


def test_every_url_pattern_has_an_entry():
    missing = []
    for pattern in url_patterns():
        if pattern.admin_model:
            if pattern.admin_model not in ADMIN_MODELS:
                missing.append(f"ADMIN_MODELS[{pattern.admin_model!r}] (admin pages, e.g. {pattern.route})")
        elif pattern.key not in URLS:
            missing.append(f"URLS[{pattern.key!r}] (route {pattern.route!r})")
    assert not missing, (
        "URL patterns without an entry in the authorization matrix "
        "(tests/tourbrain_support/test_authorization_matrix.py; see 'HOW TO ADD AN ENTRY' at its top):\n  "
        + "\n  ".join(sorted(set(missing)))
    )


def test_no_entry_for_a_pattern_that_is_gone():
    keys = {pattern.key for pattern in url_patterns()}
    models = {pattern.admin_model for pattern in url_patterns() if pattern.admin_model}
    stale = sorted(set(URLS) - keys) + sorted(set(ADMIN_MODELS) - models)
    assert not stale, f"matrix entries for URL patterns or admin models that no longer exist: {stale}"


@pytest.mark.usefixtures("widget_settings")
@pytest.mark.parametrize("role", ROLES)
def test_authorization_matrix(client, make_user, audit_dirs, role):
    # given a user of the role and objects of their own, a colleague's and another organization's
    world = _world(role, make_user)
    if world.user is not None:
        client.force_login(world.user)

    # when they request every URL pattern and every admin model's pages, then each answer is the table's
    wrong = []
    for key, row in URLS.items():
        wrong += _check_url(client, world, role, key, row)
    for label, pages in ADMIN_MODELS.items():
        wrong += _check_admin_model(client, world, role, label, pages)
    assert not wrong, f"{role}: answers that differ from the matrix:\n  " + "\n  ".join(wrong)
