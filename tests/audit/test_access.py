"""Who reads the audit log: owners their projects' rows (API and page), staff everything; a
member below owner gets 403, anyone else 404; no project's rows reach another's owner."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from senolab.audit import services
from senolab.audit.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged(clinic):
    """A row of each project, a log-in row (no project) and an old row of A."""
    a_owner, b_owner = clinic.users["a_owner"], clinic.users["b_owner"]
    rows = {
        "a": services.record(AuditAction.EXAM_VIEWED, actor=a_owner, target=clinic.image_a.exam),
        "b": services.record(AuditAction.DICOM_DOWNLOADED, actor=b_owner, target=clinic.image_b),
        "login": services.record(AuditAction.LOGIN, actor=b_owner),
        "a_old": AuditEvent.objects.create(
            action=AuditAction.PSEUDONYM_MAP_READ,
            project=clinic.a,
            at=timezone.now() - dt.timedelta(days=40),
        ),
    }
    return rows


def _ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_an_owner_reads_only_the_rows_of_their_own_projects(clinic, logged, client_for):
    client = client_for(clinic.users["a_owner"])
    # Without a filter: every row of the projects they own, nothing of B, no log-ins
    assert _ids(client.get("/api/audit/")) == {logged["a"].pk, logged["a_old"].pk}
    # And B's owner sees only B's
    assert _ids(client_for(clinic.users["b_owner"]).get("/api/audit/")) == {logged["b"].pk}


def test_an_owner_naming_another_project_gets_404_and_nothing_of_it(clinic, logged, client_for):
    response = client_for(clinic.users["a_owner"]).get("/api/audit/", {"project": clinic.b.pk})
    assert response.status_code == 404
    assert str(logged["b"].pk) not in response.content.decode().replace("404", "")


@pytest.mark.parametrize("member", ["a_viewer", "a_reviewer"])
def test_a_member_below_owner_gets_403(clinic, logged, client_for, member):
    client = client_for(clinic.users[member])
    response = client.get("/api/audit/", {"project": clinic.a.pk})
    assert response.status_code == 403
    assert "owner" in response.json()["error"]["message"]
    # And without naming a project too: they own none
    assert client.get("/api/audit/").status_code == 403


def test_anonymous_is_refused(clinic, client_for):
    assert client_for(None).get("/api/audit/").status_code in (401, 403)


def test_staff_read_every_row_including_log_ins(clinic, logged, client_for):
    assert _ids(client_for(clinic.users["staff"]).get("/api/audit/")) == {
        r.pk for r in logged.values()
    }


def test_filters_by_project_action_and_since(clinic, logged, client_for):
    client = client_for(clinic.users["staff"])
    assert _ids(client.get("/api/audit/", {"project": clinic.b.pk})) == {logged["b"].pk}
    assert _ids(client.get("/api/audit/", {"action": "pseudonym_map_read"})) == {logged["a_old"].pk}
    since = (timezone.now() - dt.timedelta(days=1)).date().isoformat()
    assert _ids(client.get("/api/audit/", {"project": clinic.a.pk, "since": since})) == {
        logged["a"].pk
    }


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"action": "tea_made"}, "action"),
        ({"since": "last tuesday"}, "since"),
        ({"project": "A"}, "project"),
        ({"project": "99999999999999999999"}, "project"),
    ],
)
def test_bad_filter_values_get_400_naming_the_field(clinic, client_for, params, field):
    response = client_for(clinic.users["a_owner"]).get("/api/audit/", params)
    assert response.status_code == 400
    assert field in response.json()["error"]["detail"]


def test_rows_come_newest_first_with_their_fields(clinic, logged, client_for):
    rows = client_for(clinic.users["a_owner"]).get("/api/audit/").json()["results"]
    assert [r["id"] for r in rows] == [logged["a"].pk, logged["a_old"].pk]
    assert rows[0] | {"at": None, "id": None} == {
        "id": None,
        "at": None,
        "actor": clinic.users["a_owner"].pk,
        "actor_name": "a_owner",
        "action": "exam_viewed",
        "project": clinic.a.pk,
        "object_type": "exam",
        "object_id": str(clinic.image_a.exam_id),
        "ip": None,
        "detail": {},
    }


def test_the_page_shows_an_owner_their_rows_without_script(clinic, logged, session_of):
    page = session_of(clinic.users["a_owner"]).get("/audit/", {"project": clinic.a.pk})
    assert page.status_code == 200
    html = page.content.decode()
    table = html.split('id="audit-rows"')[1]
    assert "<td>Exam viewed</td>" in table and "<td>Pseudonym map read</td>" in table
    assert "b_owner" not in html and "DICOM file downloaded</td>" not in table  # B's row
    assert "<script" not in html


def test_the_page_refuses_members_below_owner_and_hides_other_projects(clinic, session_of):
    viewer = session_of(clinic.users["a_viewer"])
    assert viewer.get("/audit/", {"project": clinic.a.pk}).status_code == 403
    assert viewer.get("/audit/").status_code == 403
    owner = session_of(clinic.users["a_owner"])
    assert owner.get("/audit/", {"project": clinic.b.pk}).status_code == 404


def test_the_page_says_what_is_wrong_with_a_bad_filter(clinic, session_of):
    page = session_of(clinic.users["a_owner"]).get("/audit/", {"since": "someday"})
    assert page.status_code == 400
    assert "Enter a valid date/time" in page.content.decode()


def test_the_page_needs_a_log_in(client):
    response = client.get("/audit/")
    assert response.status_code == 302 and "/login/" in response["Location"]
