import factory

from knowledge_base.models import Article, Category


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    slug = factory.Sequence(lambda n: f"category-{n}")
    name = factory.Sequence(lambda n: f"Category {n}")


class ArticleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Article

    slug = factory.Sequence(lambda n: f"article-{n}")
    title = factory.Sequence(lambda n: f"Article number {n}")
    summary = "A short summary of the article."
    body = "Some **body** text about tours and venues."
    category = factory.SubFactory(CategoryFactory)
    audience = Article.Audience.PUBLIC
    status = Article.Status.PUBLISHED


class VideoFactory(ArticleFactory):
    kind = Article.Kind.VIDEO
    video_provider = Article.VideoProvider.YOUTUBE
    video_ref = "abcDEF12345"
    duration_seconds = 300
    chapters = factory.LazyFunction(
        lambda: [
            {"start": 0, "title": "Intro", "transcript": "Welcome to the tutorial."},
            {"start": 60, "title": "Second part", "transcript": "Now the second part about setlists."},
            {"start": 120, "title": "Wrap up", "transcript": "That is all for today."},
        ]
    )
