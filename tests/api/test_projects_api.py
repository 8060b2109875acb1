"""Projects, members and tokens through the REST API."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from senolab.projects.models import Membership, Project, Role
from senolab.projects.schema import default_label_schema

pytestmark = pytest.mark.django_db


def test_project_list_shows_only_the_callers_projects(make_user, make_project, client_for):
    # Given two projects, the user a member of one
    alice, bob = make_user(), make_user()
    mine = make_project("Mine", viewer=alice)
    make_project("Theirs", owner=bob)
    # When alice lists projects
    response = client_for(alice).get("/api/projects/")
    # Then only hers is there, with her role, and the count says one
    assert response.status_code == 200
    assert response.json()["count"] == 1
    assert [p["id"] for p in response.json()["results"]] == [mine.pk]
    assert response.json()["results"][0]["role"] == "viewer"


def test_creating_a_project_makes_the_creator_its_owner(make_user, client_for):
    user = make_user()
    response = client_for(user).post(
        "/api/projects/", {"name": "Screening", "slug": "screening"}, format="json"
    )
    assert response.status_code == 201, response.content
    project = Project.objects.get(pk=response.json()["id"])
    assert Membership.objects.get(project=project, user=user).role == Role.OWNER
    assert response.json()["role"] == "owner"


@pytest.mark.parametrize(
    "field, value",
    [
        ("label_schema", {"finding_types": []}),
        ("label_schema", "not an object"),
        (
            "label_schema",
            {
                **default_label_schema(),
                "attributes": {"shape": {"type": "text", "finding_types": ["tumour"]}},
            },
        ),
        ("clinical_schema", {"age": {"type": "colour"}}),
        ("clinical_schema", {"grade": {"type": "choice"}}),
    ],
)
def test_invalid_schemas_are_refused_with_a_message(make_user, client_for, field, value):
    user = make_user()
    response = client_for(user).post(
        "/api/projects/", {"name": "X", "slug": "x", field: value}, format="json"
    )
    assert response.status_code == 400
    assert field in response.json()["error"]["detail"]
    assert not Project.objects.filter(slug="x").exists()


def test_other_projects_are_404_and_low_roles_403(make_user, make_project, client_for):
    alice, bob = make_user(), make_user()
    theirs = make_project("Theirs", owner=bob)
    mine = make_project("Mine", viewer=alice)
    client = client_for(alice)
    assert client.get(f"/api/projects/{theirs.pk}/").status_code == 404
    assert client.patch(f"/api/projects/{theirs.pk}/", {"description": "x"}).status_code == 404
    assert client.get(f"/api/projects/{theirs.pk}/members/").status_code == 404
    assert client.get(f"/api/projects/{mine.pk}/").status_code == 200
    assert client.patch(f"/api/projects/{mine.pk}/", {"description": "x"}).status_code == 403


def test_owner_manages_members_and_a_project_keeps_an_owner(make_user, make_project, client_for):
    owner, newcomer = make_user(), make_user("newcomer")
    project = make_project("P", owner=owner)
    client = client_for(owner)
    # When the owner adds an annotator
    added = client.post(
        f"/api/projects/{project.pk}/members/",
        {"username": "newcomer", "role": "annotator"},
        format="json",
    )
    assert added.status_code == 201, added.content
    assert Membership.objects.get(project=project, user=newcomer).role == "annotator"
    # And promotes them
    member_id = added.json()["id"]
    promoted = client.patch(
        f"/api/projects/{project.pk}/members/{member_id}/", {"role": "reviewer"}, format="json"
    )
    assert promoted.json()["role"] == "reviewer"
    # Then the newcomer may read but not manage members
    other = client_for(newcomer)
    assert other.get(f"/api/projects/{project.pk}/members/").status_code == 200
    refused = other.post(
        f"/api/projects/{project.pk}/members/", {"username": "newcomer", "role": "owner"}
    )
    assert refused.status_code == 403
    # And the last owner cannot be demoted
    own = Membership.objects.get(project=project, user=owner)
    demoted = client.patch(
        f"/api/projects/{project.pk}/members/{own.pk}/", {"role": "viewer"}, format="json"
    )
    assert demoted.status_code == 400
    assert Membership.objects.get(pk=own.pk).role == "owner"


def test_token_is_issued_for_right_credentials_and_refused_for_wrong(make_user, make_project):
    user = make_user("tokenuser")
    make_project("P", viewer=user)
    client = APIClient()
    wrong = client.post(
        "/api/auth/token/", {"username": "tokenuser", "password": "nope"}, format="json"
    )
    assert wrong.status_code == 401  # as the schema declares, with the scheme to use
    assert wrong["WWW-Authenticate"] == "Token"
    assert "error" in wrong.json()
    right = client.post(
        "/api/auth/token/", {"username": "tokenuser", "password": "test-pass-123"}, format="json"
    )
    assert right.status_code == 200
    token = right.json()["token"]
    # The token authenticates API calls
    listed = APIClient(HTTP_AUTHORIZATION=f"Token {token}").get("/api/projects/")
    assert listed.status_code == 200
    assert listed.json()["count"] == 1


def test_anonymous_requests_are_refused():
    assert APIClient().get("/api/projects/").status_code in (401, 403)


def test_owner_changes_the_label_schema_only_to_a_valid_one(make_user, make_project, client_for):
    owner = make_user()
    project = make_project("P", owner=owner)
    client = client_for(owner)
    schema = {**project.label_schema, "density": ["A", "B", "C", "D", "E"]}
    changed = client.patch(f"/api/projects/{project.pk}/", {"label_schema": schema}, format="json")
    assert changed.status_code == 200, changed.content
    project.refresh_from_db()
    assert project.label_schema["density"][-1] == "E"
    broken = {**schema, "birads": ["1", "1"]}
    refused = client.patch(f"/api/projects/{project.pk}/", {"label_schema": broken}, format="json")
    assert refused.status_code == 400
    project.refresh_from_db()
    assert project.label_schema["birads"] != ["1", "1"]


def test_owner_deletes_a_project_and_others_cannot(make_user, make_project, client_for):
    owner, viewer = make_user(), make_user()
    project = make_project("P", owner=owner, viewer=viewer)
    assert client_for(viewer).delete(f"/api/projects/{project.pk}/").status_code == 403
    assert client_for(make_user()).delete(f"/api/projects/{project.pk}/").status_code == 404
    assert client_for(owner).delete(f"/api/projects/{project.pk}/").status_code == 204
    assert not Project.objects.filter(pk=project.pk).exists()


def test_owner_sets_the_review_loop_and_a_reviewer_cannot(make_user, make_project, client_for):
    # Given a project with an owner and a reviewer
    owner, reviewer = make_user(), make_user()
    project = make_project("Loop", owner=owner, reviewer=reviewer)
    settings = {
        "blind_first_read": True,
        "private_reads": True,
        "preannotate_on_ingest": True,
        "adjudication_rules": {"birads_difference": 1, "iou_threshold": 0.5},
        "rejection_reasons": ["Artefact", " Not a lesion "],
    }
    # When the reviewer tries to change the review loop, then it is refused and nothing changes
    refused = client_for(reviewer).patch(f"/api/projects/{project.pk}/", settings, format="json")
    assert refused.status_code == 403
    project.refresh_from_db()
    assert not project.blind_first_read and not project.preannotate_on_ingest
    # When the owner sets it
    saved = client_for(owner).patch(f"/api/projects/{project.pk}/", settings, format="json")
    # Then every setting is stored and answered back, the reasons trimmed
    assert saved.status_code == 200, saved.content
    project.refresh_from_db()
    assert project.blind_first_read and project.private_reads and project.preannotate_on_ingest
    assert project.adjudication_rules == {"birads_difference": 1, "iou_threshold": 0.5}
    assert project.rejection_reasons == ["Artefact", "Not a lesion"]
    assert saved.json()["preannotate_on_ingest"] is True
    # and rules that are not numbers are refused with a message
    bad = client_for(owner).patch(
        f"/api/projects/{project.pk}/",
        {"adjudication_rules": {"birads_difference": "two"}},
        format="json",
    )
    assert bad.status_code == 400 and "adjudication_rules" in bad.json()["error"]["detail"]
