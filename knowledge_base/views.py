"""Help center pages (/docs/...) and the editor pages (/docs/manage/...).

Readers: home, search, article, video list and video page, and the "Was this helpful?" vote (POST, then a
redirect back). Anonymous readers get a signed browser id cookie (`kb_reader`) for their vote and their
suggestion opens. A page view only adds to a cache counter (`kb_view_record`).
Editors (reps, leads, admins): list, new, edit with a preview rendered by the reader's template, history
with a diff between versions, restore, and the review/publish actions; the report is for leads and admins.
"""

from __future__ import annotations

import difflib
import uuid

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from knowledge_base import selectors, services
from knowledge_base.access import EDITOR_ROLES, PUBLISHER_ROLES, can_publish
from knowledge_base.models import Article, Category
from knowledge_base.rendering import render_markdown, video_file_origin
from knowledge_base.search import clean_query
from tourbrain_support.api import ApplicationError
from tourbrain_support.roles import role_required

READER_COOKIE = "kb_reader"
READER_SALT = "knowledge_base.reader"
READER_MAX_AGE = 365 * 24 * 3600
RESERVED_SLUGS = {"videos", "search", "manage", "feedback"}


def reader_id(request) -> str:
    value = request.get_signed_cookie(READER_COOKIE, default="", salt=READER_SALT)
    return value if len(value) == 32 and value.isalnum() else ""


def _with_reader_cookie(request, response):
    if not request.user.is_authenticated and not reader_id(request):
        response.set_signed_cookie(
            READER_COOKIE, uuid.uuid4().hex, salt=READER_SALT, max_age=READER_MAX_AGE, httponly=True, samesite="Lax"
        )
    return response


@require_GET
def index(request):
    context = selectors.docs_home(user=request.user)
    return render(request, "knowledge_base/index.html", context)


@require_GET
def search(request):
    query = clean_query(request.GET.get("q"))
    hits = selectors.kb_search(query=query, user=request.user) if query else []
    if query and not hits:
        services.kb_empty_search_record(query=query)
    return render(request, "knowledge_base/search.html", {"query": query, "hits": hits})


def _article_page(request, *, slug: str, kind: str, template: str):
    article = selectors.article_visible_get(user=request.user, slug=slug, kind=kind)
    if article is None:
        raise Http404("No such article.")
    services.kb_view_record(article_id=article.pk)
    reader = reader_id(request)
    if request.GET.get("src") == "suggestion":
        # A widget link names its user (signed): the widget's sign-in does not reach this tab.
        linked_user_id = (
            None if request.user.is_authenticated else selectors.suggestion_person_id(request.GET.get("who"))
        )
        services.kb_suggestion_opened(
            article=article,
            user=request.user,
            reader_id=reader,
            draft_key=request.GET.get("draft", "")[:80],
            source=request.GET.get("from", "suggestion")[:20],
            linked_user_id=linked_user_id,
        )
    context = {
        "article": article,
        "related": selectors.article_related(article=article, user=request.user),
        "vote": selectors.feedback_for(article=article, user=request.user, reader_id=reader),
    }
    return _with_reader_cookie(request, _allow_video_file(article, render(request, template, context)))


def _allow_video_file(article: Article, response):
    """A video file on another host plays only if the page's CSP names that host in `media-src`."""
    if article.kind == Article.Kind.VIDEO and article.video_provider == Article.VideoProvider.FILE:
        origin = video_file_origin(article.video_ref)
        if origin:
            response._csp_update = {"media-src": ["'self'", origin]}
    return response


@require_GET
def article(request, slug: str):
    return _article_page(request, slug=slug, kind=Article.Kind.ARTICLE, template="knowledge_base/article.html")


@require_GET
def videos(request):
    return render(request, "knowledge_base/videos.html", {"videos": selectors.video_list(user=request.user)})


@require_GET
def video(request, slug: str):
    return _article_page(request, slug=slug, kind=Article.Kind.VIDEO, template="knowledge_base/video.html")


class FeedbackForm(forms.Form):
    helpful = forms.TypedChoiceField(choices=[("yes", "Yes"), ("no", "No")], coerce=lambda value: value == "yes")
    comment = forms.CharField(required=False, max_length=services.COMMENT_MAX_LENGTH)


@require_POST
def feedback(request, kind: str, slug: str):
    kind = Article.Kind.VIDEO if kind == "videos" else Article.Kind.ARTICLE
    article = selectors.article_visible_get(user=request.user, slug=slug, kind=kind)
    if article is None:
        raise Http404("No such article.")
    form = FeedbackForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose Yes or No (comments up to 2,000 characters).")
        return redirect(article.get_absolute_url() + "#feedback")
    reader = reader_id(request)
    if not request.user.is_authenticated and not reader:
        messages.error(request, "Your browser did not keep our cookie; enable cookies to vote.")
        return _with_reader_cookie(request, redirect(article.get_absolute_url() + "#feedback"))
    services.kb_feedback_submit(
        article=article,
        user=request.user,
        reader_id=reader,
        helpful=form.cleaned_data["helpful"],
        comment=form.cleaned_data["comment"],
    )
    messages.success(request, "Thanks for your feedback.")
    return redirect(article.get_absolute_url() + "#feedback")


# --- editors ----------------------------------------------------------------------------------------------


def _chapters_text(chapters) -> str:
    lines = []
    for chapter in chapters or []:
        start = int(chapter.get("start", 0))
        lines.append(f"{start // 60}:{start % 60:02d} | {chapter.get('title', '')} | {chapter.get('transcript', '')}")
    return "\n".join(lines)


class ArticleForm(forms.ModelForm):
    chapters_text = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        label="Chapters",
        help_text="Videos: one chapter a line, `m:ss | title | transcript of the chapter`.",
    )

    class Meta:
        model = Article
        fields = [
            "title", "slug", "summary", "body", "category", "audience", "video_provider", "video_ref",
            "duration_seconds",
        ]  # fmt: skip
        widgets = {"body": forms.Textarea(attrs={"rows": 18}), "summary": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, kind: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.fields["category"].queryset = Category.objects.all()
        if self.instance.pk:
            self.initial["chapters_text"] = _chapters_text(self.instance.chapters)

    def clean_slug(self):
        slug = self.cleaned_data["slug"]
        if slug in RESERVED_SLUGS:
            raise forms.ValidationError("This slug is reserved for a docs page.")
        return slug

    def clean_video_ref(self):
        ref = self.cleaned_data.get("video_ref", "").strip()
        provider = self.cleaned_data.get("video_provider", "")
        if provider == Article.VideoProvider.FILE and ref and not video_file_origin(ref):
            raise forms.ValidationError("A video file must be an https URL (a host name, an optional port).")
        if (
            provider in (Article.VideoProvider.YOUTUBE, Article.VideoProvider.VIMEO)
            and not ref.replace("-", "").replace("_", "").isalnum()
        ):
            raise forms.ValidationError("Enter the video id (letters, digits, - and _), not a URL.")
        return ref

    def clean_chapters_text(self):
        chapters = []
        for number, line in enumerate(self.cleaned_data.get("chapters_text", "").splitlines(), start=1):
            if not line.strip():
                continue
            parts = [part.strip() for part in line.split("|", 2)]
            if len(parts) < 2:
                raise forms.ValidationError(f"Line {number}: write `m:ss | title | transcript`.")
            minutes, _, seconds = parts[0].partition(":")
            if not (minutes.isdigit() and seconds.isdigit() and len(seconds) == 2 and int(seconds) < 60):
                raise forms.ValidationError(f"Line {number}: the start time must look like 1:05.")
            start = int(minutes) * 60 + int(seconds)
            if chapters and start <= chapters[-1]["start"]:
                raise forms.ValidationError(f"Line {number}: chapters must be in playback order.")
            chapters.append({"start": start, "title": parts[1][:200], "transcript": parts[2] if len(parts) > 2 else ""})
        return chapters

    def content(self) -> dict:
        data = {name: self.cleaned_data[name] for name in self.Meta.fields}
        data["chapters"] = self.cleaned_data["chapters_text"]
        return data


def _editor_article(pk: int) -> Article:
    return get_object_or_404(Article.objects.select_related("category", "author"), pk=pk)


@require_GET
@role_required(*EDITOR_ROLES)
def manage_list(request):
    return render(
        request,
        "knowledge_base/manage/list.html",
        {"articles": selectors.editor_article_list(), "can_publish": can_publish(request.user)},
    )


def _preview(article: Article, form: ArticleForm) -> Article:
    # An unsaved copy with the typed content, rendered by the same code and template as the reader's page.
    preview = Article(pk=article.pk, kind=form.kind, **form.content())
    preview.body_html = render_markdown(preview.body)
    return preview


def _save_or_preview(request, *, article: Article | None, kind: str):
    instance = article or Article(kind=kind)
    form = ArticleForm(request.POST or None, instance=instance, kind=kind)
    context = {
        "form": form,
        "article": article,
        "kind": kind,
        "preview": None,
        "can_publish": can_publish(request.user),
    }
    if request.method == "POST" and form.is_valid():
        if "preview" in request.POST:
            context["preview"] = _preview(instance, form)
            return _allow_video_file(context["preview"], render(request, "knowledge_base/manage/edit.html", context))
        try:
            if article is None:
                saved = services.article_create(actor=request.user, kind=kind, **form.content())
            else:
                saved = services.article_update(article=article, actor=request.user, **form.content())
        except ApplicationError as error:
            form.add_error(None, error.message)
            return render(request, "knowledge_base/manage/edit.html", context, status=400)
        messages.success(request, f"Saved “{saved.title}” ({saved.get_status_display()}).")
        return redirect("knowledge_base:manage_edit", pk=saved.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "knowledge_base/manage/edit.html", context, status=status)


@require_http_methods(["GET", "POST"])
@role_required(*EDITOR_ROLES)
def manage_new(request):
    kind = Article.Kind.VIDEO if request.GET.get("kind") == "video" else Article.Kind.ARTICLE
    return _save_or_preview(request, article=None, kind=kind)


@require_http_methods(["GET", "POST"])
@role_required(*EDITOR_ROLES)
def manage_edit(request, pk: int):
    article = _editor_article(pk)
    return _save_or_preview(request, article=article, kind=article.kind)


@require_POST
@role_required(*EDITOR_ROLES)
def manage_status(request, pk: int):
    article = _editor_article(pk)
    actions = {
        "submit": services.article_submit_for_review,
        "publish": services.article_publish,
        "unpublish": services.article_unpublish,
    }
    action = actions.get(request.POST.get("action", ""))
    if action is None:
        messages.error(request, "Unknown action.")
        return redirect("knowledge_base:manage_edit", pk=pk)
    try:
        article = action(article=article, actor=request.user)
    except ApplicationError as error:
        if error.status == 403:
            raise PermissionDenied(error.message) from error
        messages.error(request, error.message)
    else:
        messages.success(request, f"“{article.title}” is now {article.get_status_display().lower()}.")
    return redirect("knowledge_base:manage_edit", pk=pk)


def _version_text(version) -> list[str]:
    return [
        f"Title: {version.title}",
        f"Slug: {version.slug}",
        f"Summary: {version.summary}",
        f"Audience: {version.audience}",
        "",
        *version.body.splitlines(),
    ]


@require_GET
@role_required(*EDITOR_ROLES)
def manage_history(request, pk: int):
    article = _editor_article(pk)
    versions = list(selectors.article_history(article=article)[:50])
    diff_lines, left, right = [], None, None
    ids = {version.history_id: version for version in versions}
    try:
        right = ids.get(int(request.GET.get("to", versions[0].history_id if versions else 0)))
        left = ids.get(int(request.GET.get("from", versions[1].history_id if len(versions) > 1 else 0)))
    except ValueError:
        left = right = None
    if left is not None and right is not None:
        diff_lines = list(
            difflib.unified_diff(
                _version_text(left),
                _version_text(right),
                fromfile=f"version {left.history_id}",
                tofile=f"version {right.history_id}",
                lineterm="",
            )
        )
    return render(
        request,
        "knowledge_base/manage/history.html",
        {"article": article, "versions": versions, "diff_lines": diff_lines, "left": left, "right": right},
    )


@require_POST
@role_required(*EDITOR_ROLES)
def manage_restore(request, pk: int, history_id: int):
    article = _editor_article(pk)
    try:
        article = services.article_restore(article=article, history_id=history_id, actor=request.user)
    except ApplicationError as error:
        if error.status == 404:
            raise Http404(error.message) from error
        messages.error(request, error.message)
    else:
        messages.success(request, f"Restored version {history_id} ({article.get_status_display().lower()}).")
    return redirect("knowledge_base:manage_history", pk=pk)


@require_GET
@role_required(*PUBLISHER_ROLES)
def manage_report(request):
    try:
        days = max(1, min(int(request.GET.get("days", 30)), 365))
    except ValueError:
        days = 30
    return render(request, "knowledge_base/manage/report.html", selectors.kb_report(days=days))
