"""The GDPR demo data loads on top of the core demo and a second run changes nothing."""

import pytest

from audit import demo_compliance
from audit.models import ConsentRecord, CrossBorderTransfer, DataSubjectRequest, PrivacyPolicyVersion
from tourbrain_support import demo

pytestmark = pytest.mark.django_db


def test_demo_seed_is_idempotent():
    demo.seed()
    demo_compliance.seed()
    counts = [m.objects.count() for m in (PrivacyPolicyVersion, ConsentRecord, DataSubjectRequest, CrossBorderTransfer)]
    demo_compliance.seed()
    assert [
        m.objects.count() for m in (PrivacyPolicyVersion, ConsentRecord, DataSubjectRequest, CrossBorderTransfer)
    ] == counts
    assert counts == [2, 5, 2, 4]
