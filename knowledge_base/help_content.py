"""The help center's starting content: the seven docs pages and six video tutorials, and their categories.

Loaded by a data migration (so every installation has them) and by `seed_demo` (which only adds what is
missing). Both go through `load_help_content`, which takes the model classes so the migration can pass its
historical models; it never overwrites an article that exists (editors own it after the first load).
The video ids are the slots for the recorded tutorials; editors replace them with the uploaded videos' ids.
"""

from __future__ import annotations

from pathlib import Path

from django.utils import timezone

from knowledge_base.rendering import render_markdown

CONTENT_DIR = Path(__file__).resolve().parent / "content"

CATEGORIES = [
    ("getting-started", "Getting started", "Set up your account and plan your first tour.", 1),
    ("features", "Using TourBrain", "Routing, collaboration, exports and integrations.", 2),
    ("help", "Troubleshooting", "Common problems and how to solve them.", 3),
    ("developers", "Developers", "The support API and the in-app widget.", 4),
    ("videos", "Video tutorials", "Short videos with chapters and transcripts.", 5),
]

DOCS = [
    ("getting-started", "Getting started: account setup and your first tour", "getting-started", 1,
     "Create your account and organization, invite your team, add shows and share your first tour."),
    ("ai-routing", "AI routing: let TourBrain propose the order of your shows", "features", 1,
     "Generate routing scenarios, compare drive times and days off, and apply the one you like."),
    ("collaboration", "Collaboration: external sharing and permissions", "features", 2,
     "Share a tour or a show with promoters, venues and crew: viewer, contributor and editor permissions."),
    ("exports", "Exports: PDF itineraries, CSV and iCal calendar feeds", "features", 3,
     "Export day sheets as PDF, shows as CSV for spreadsheets, and subscribe to a tour's calendar feed."),
    ("integrations", "Integrations: calendars, Slack, Google Sheets and single sign-on", "features", 4,
     "Connect Google Calendar, Microsoft 365, Slack and Google Sheets; single sign-on for Enterprise."),
    ("troubleshooting", "Troubleshooting: common issues and solutions", "help", 1,
     "Sign-in problems, shows on the wrong day, routing without a scenario, stuck exports and more."),
    ("api-reference", "API reference: widget authentication and ticket endpoints", "developers", 1,
     "Authenticate the in-app widget with a JWT, use the ticket and knowledge base endpoints."),
]  # fmt: skip


def _chapters(*items: tuple[int, str, str]) -> list[dict]:
    return [{"start": start, "title": title, "transcript": transcript} for start, title, transcript in items]


VIDEOS = [
    {
        "slug": "quick-start",
        "title": "Quick start: TourBrain in five minutes",
        "summary": "A five-minute overview: your organization, a first tour, shows and venues, sharing and exports.",
        "video_ref": "tbQuickStrt",
        "duration_seconds": 300,
        "related": ["getting-started"],
        "chapters": _chapters(
            (
                0,
                "Welcome",
                "Welcome to TourBrain. In the next five minutes we set up an organization, create a "
                "tour, add a few shows and share the itinerary with the crew.",
            ),
            (
                45,
                "Your organization",
                "Everything belongs to your organization. Open Settings, Members, to invite "
                "the people you work with. Members see every tour; outside people are shared one tour at a time.",
            ),
            (
                110,
                "A first tour",
                "Click New tour, name it, pick the artist and the first and last dates. Then add "
                "shows: a date, a city and a venue. Start typing the venue and pick it from the suggestions.",
            ),
            (
                190,
                "Check and share",
                "The overview shows the route on a map with drive times and warnings. Click "
                "Share to invite your tour manager as an editor and the crew as viewers.",
            ),
            (
                250,
                "Export",
                "Finally export the itinerary as a PDF, or subscribe to the calendar feed so every "
                "show appears on your phone. That's it: you are ready for your first tour.",
            ),
        ),
    },
    {
        "slug": "tour-creation",
        "title": "Tour creation: the complete setup workflow",
        "summary": "From an empty tour to a complete plan: shows, venues, schedules, travel days, hotels and contacts.",
        "video_ref": "tbTourCreat",
        "duration_seconds": 720,
        "related": ["getting-started"],
        "chapters": _chapters(
            (
                0,
                "Plan the tour",
                "A tour has a name, one or more artists and a date range. Holds and confirmed "
                "shows can live side by side until the routing is final.",
            ),
            (
                120,
                "Shows and venues",
                "Add each show with its date, city and venue. Known venues come with address, "
                "capacity and contacts; add a new venue by hand when it is missing.",
            ),
            (
                300,
                "Day schedule",
                "On the show page fill load-in, soundcheck, doors and set times. Times are in the "
                "venue's local time zone, so a show abroad is always shown correctly.",
            ),
            (
                480,
                "Travel and hotels",
                "Add travel days and days off between shows, and the hotel for each night. "
                "Drive times between venues are calculated for you.",
            ),
            (
                630,
                "Review",
                "The tour overview lists warnings: shows too far apart, a venue without a contact, a "
                "missing hotel. Fix them and the tour is ready to share.",
            ),
        ),
    },
    {
        "slug": "ai-routing",
        "title": "AI routing demonstration",
        "summary": "Generate routing scenarios for a tour with fixed and flexible dates, compare them and apply one.",
        "video_ref": "tbAIRouting",
        "duration_seconds": 540,
        "related": ["ai-routing"],
        "chapters": _chapters(
            (
                0,
                "Why routing",
                "Routing proposes the order of your shows to save distance, drive hours and hotel "
                "nights. Nothing changes until you apply a scenario.",
            ),
            (
                90,
                "Fixed and flexible dates",
                "Mark confirmed bookings as fixed and holds as flexible. Fixed shows "
                "never move; flexible ones can be reordered.",
            ),
            (
                210,
                "Limits",
                "Set the longest drive per day and the days off you need, for example one day off after "
                "four shows in a row.",
            ),
            (
                330,
                "Compare scenarios",
                "Up to three scenarios appear side by side on the map with total distance, "
                "drive hours and days off. Differences to the current plan are highlighted.",
            ),
            (
                450,
                "Apply and undo",
                "Apply the scenario you like. The previous plan stays in the tour history, so "
                "you can go back at any time.",
            ),
        ),
    },
    {
        "slug": "collaboration",
        "title": "External collaboration setup",
        "summary": "Invite promoters, venues and crew to a tour or show with the right permission, and revoke access.",
        "video_ref": "tbCollabSet",
        "duration_seconds": 420,
        "related": ["collaboration"],
        "chapters": _chapters(
            (
                0,
                "Members and collaborators",
                "Members belong to your organization. Collaborators are invited to a "
                "single tour or show and only see that.",
            ),
            (
                80,
                "Permissions",
                "Viewers read, contributors also comment and fill the fields you open to them, "
                "editors change times, contacts and travel. Fees and internal notes stay private.",
            ),
            (
                200,
                "Invite and expire",
                "Click Share, enter emails, choose a permission and an optional expiry date, "
                "so access ends after the tour.",
            ),
            (
                300,
                "Read-only links",
                "For crew who should not sign in, create a read-only itinerary link. Revoke it "
                "at any time from the Share dialog.",
            ),
        ),
    },
    {
        "slug": "export-features",
        "title": "Professional export capabilities",
        "summary": "PDF day sheets, CSV for accounting and iCal feeds for everyone's calendar.",
        "video_ref": "tbExportFea",
        "duration_seconds": 480,
        "related": ["exports"],
        "chapters": _chapters(
            (
                0,
                "PDF day sheets",
                "Export the whole tour or one show as a PDF itinerary. Choose the sections: "
                "times, travel, hotel, contacts and guest list. Internal notes are never included.",
            ),
            (
                180,
                "CSV for spreadsheets",
                "The CSV export has one row per show. Import it as UTF-8 so accented "
                "venue names display correctly in Excel.",
            ),
            (
                300,
                "Calendar feeds",
                "Subscribe to the tour's iCal feed in Google, Apple or Outlook calendar. Events "
                "use each venue's time zone and update when the tour changes.",
            ),
            (
                420,
                "Sharing exports safely",
                "Anyone with a feed URL can read it; reset the URL if it was shared too widely.",
            ),
        ),
    },
    {
        "slug": "advanced-features",
        "title": "Advanced features: power user tips and tricks",
        "summary": "Keyboard shortcuts, tour templates, bulk edits, history and restore, and integrations.",
        "video_ref": "tbAdvancedF",
        "duration_seconds": 600,
        "related": ["integrations", "troubleshooting"],
        "chapters": _chapters(
            (
                0,
                "Keyboard shortcuts",
                "Press question mark to see every shortcut: N for a new show, G then T to go "
                "to tours, slash to search.",
            ),
            (
                120,
                "Tour templates",
                "Save a tour as a template with its schedule and contacts, and start the next run from it in seconds.",
            ),
            (240, "Bulk edits", "Select several shows to change the doors time, the promoter or the status at once."),
            (
                360,
                "History and restore",
                "Every change is kept in the tour history. Restore a deleted show or an "
                "earlier schedule within thirty days.",
            ),
            (
                480,
                "Integrations",
                "Push shows to Google Calendar, post changes to Slack and keep a live Google "
                "Sheet of the tour for accounting.",
            ),
        ),
    },
]


def load_help_content(Article, Category) -> int:
    """Create the categories and the help pages and videos that do not exist yet; returns how many were added."""
    categories = {}
    for slug, name, description, position in CATEGORIES:
        categories[slug], _ = Category.objects.get_or_create(
            slug=slug, defaults={"name": name, "description": description, "position": position}
        )
    video_category = categories["videos"]
    now = timezone.now()
    created = 0
    by_slug = {}
    for slug, title, category_slug, position, summary in DOCS:
        body = (CONTENT_DIR / f"{slug}.md").read_text(encoding="utf-8")
        article, was_created = Article.objects.get_or_create(
            kind="article",
            slug=slug,
            defaults={
                "title": title, "summary": summary, "body": body,
                "body_html": render_markdown(body), "category": categories[category_slug], "audience": "public",
                "status": "published", "position": position, "published_at": now, "updated_at": now,
            },
        )  # fmt: skip
        created += was_created
        by_slug[slug] = article
    for position, video in enumerate(VIDEOS, start=1):
        transcript = "\n\n".join(chapter["transcript"] for chapter in video["chapters"])
        body = video["summary"]
        article, was_created = Article.objects.get_or_create(
            kind="video",
            slug=video["slug"],
            defaults={
                "title": video["title"], "summary": video["summary"], "body": body,
                "body_html": render_markdown(body), "category": video_category,
                "audience": "public", "status": "published", "position": 100 + position, "video_provider": "youtube",
                "video_ref": video["video_ref"], "duration_seconds": video["duration_seconds"],
                "chapters": video["chapters"], "transcript": transcript, "published_at": now, "updated_at": now,
            },
        )  # fmt: skip
        created += was_created
        if was_created:
            article.related.set([by_slug[slug] for slug in video["related"] if slug in by_slug])
    return created
