"""Core models: the User (email login), the customer Organization and who belongs to which."""

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields):
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields):
        fields["is_staff"] = True
        fields["is_superuser"] = True
        return self._create(email, password, **fields)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=200, blank=True)
    is_beta = models.BooleanField("beta cohort", default=False, help_text="Member of the beta cohort (beta tier).")
    is_staff = models.BooleanField(default=False, help_text="May log into the staff pages and the admin.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # Availability for round-robin assignment; reps on leave are skipped.
    is_available = models.BooleanField(default=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.name or self.email

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return (self.name or self.email).split(" ")[0]


class Organization(models.Model):
    class Plan(models.TextChoices):
        STARTER = "starter", "Starter"
        PROFESSIONAL = "professional", "Professional"
        ENTERPRISE = "enterprise", "Enterprise"

    class Region(models.TextChoices):
        EU = "eu", "Europe"
        US = "us", "United States"
        UK = "uk", "United Kingdom"
        APAC = "apac", "Asia-Pacific"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    plan = models.CharField(max_length=20, choices=Plan.choices, default=Plan.STARTER)
    region = models.CharField(max_length=10, choices=Region.choices, default=Region.EU)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(User, through="Membership", related_name="organizations")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    # Roles that administer the organization's support: they see every ticket of the organization.
    ADMIN_ROLES = (Role.OWNER, Role.ADMIN)

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization}"


class ExternalIdentity(models.Model):
    """A person as TourBrain's auth provider knows them (token issuer + `sub`), linked to our customer User.

    `claims_digest` is a digest of the profile claims last applied: an unchanged token profile costs no
    writes. `organization` is the organization named by the last token (its active organization).
    """

    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="external_identities")
    organization = models.ForeignKey(Organization, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    claims_digest = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="unique_external_identity")]

    def __str__(self) -> str:
        return f"{self.subject} @ {self.issuer}"


class ExternalOrganization(models.Model):
    """An organization as the token issuer names it (`org_id`), linked to our Organization."""

    issuer = models.CharField(max_length=300)
    external_id = models.CharField(max_length=255)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="external_ids")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "external_id"], name="unique_external_organization")]

    def __str__(self) -> str:
        return f"{self.external_id} @ {self.issuer}"


class WorkerHeartbeat(models.Model):
    """The last time each Celery worker ran the heartbeat task; /readyz reads the freshest."""

    worker = models.CharField(max_length=200, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.worker} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"
