"""The snapshot pages: they render for members, are 404 for outsiders, show each button only to
the roles allowed, and every form posts with CSRF, refuses bad input with a clear error and then
changes nothing."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from snapshots.models import SanitizationPolicy, Snapshot, SnapshotRestore, SnapshotState
from snapshots.pages import lineage_picture
from tests.snapshots_api.conftest import ARTIFACT, BAD_POLICY, POLICY


def _page(response) -> str:
    return response.content.decode()


# --- list ---------------------------------------------------------------------------------------


def test_the_list_shows_state_size_sanitized_and_expiry(client_for, owner, viewer, snapshot, make_snapshot, env):
    raw = make_snapshot(env, sanitized=False)
    for user in (owner, viewer):
        page = _page(client_for(user).get("/snapshots/"))
        assert snapshot.public_id in page and raw.public_id in page
        assert 'data-state="ready"' in page and "sanitized</span>" in page and "raw</span>" in page
        assert "shop-dev v1" in page and "in 6\xa0days" in page


def test_the_list_is_the_current_teams_only(client_for, outsider, other_team, snapshot):
    page = _page(client_for(outsider).get("/snapshots/"))
    assert snapshot.public_id not in page and "No snapshots" in page


def test_the_list_filters_by_state_and_environment(client_for, owner, env, snapshot, make_snapshot, other_env):
    failed = make_snapshot(env, state=SnapshotState.FAILED)
    page = _page(client_for(owner).get("/snapshots/?state=failed"))
    assert failed.public_id in page and snapshot.public_id not in page
    page = _page(client_for(owner).get(f"/snapshots/?environment={env.public_id}"))
    assert failed.public_id in page and snapshot.public_id in page
    assert client_for(owner).get(f"/snapshots/?environment={other_env.public_id}").status_code == 404


def test_the_list_polls_while_a_capture_runs(client_for, owner, env, make_snapshot):
    make_snapshot(env, state=SnapshotState.CAPTURING)
    page = _page(client_for(owner).get("/snapshots/"))
    assert 'data-polling="true"' in page and 'hx-get="/snapshots/rows/' in page
    rows = client_for(owner).get("/snapshots/rows/")
    assert rows.status_code == 200 and b"<html" not in rows.content


def test_the_list_page_query_count_is_constant(client_for, owner, env, make_snapshot, policy):
    client = client_for(owner)
    client.get("/snapshots/")
    counts = []
    for n in (2, 6):
        while Snapshot.objects.count() < n:
            snap = make_snapshot(env, policy=policy)
            SnapshotRestore.objects.create(snapshot=snap, environment=env, service="db", requested_by=owner)
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/snapshots/").status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1], counts


# --- detail -------------------------------------------------------------------------------------


def test_the_detail_shows_lineage_to_members(client_for, owner, viewer, snapshot, restored, env):
    for user in (owner, viewer):
        response = client_for(user).get(f"/snapshots/{snapshot.public_id}/")
        page = _page(response)
        assert response.status_code == 200
        assert "<svg" in page and 'class="restore"' in page and f'data-id="{env.public_id}"' in page
        assert f"payments/{env.name}" in page and "shop-dev v1" in page and snapshot.sha256 in page
        assert 'data-restore="' in page and "olivia" in page and 'data-state="succeeded"' in page


def test_outsiders_get_404_for_every_snapshot_page(client_for, outsider, other_team, snapshot, env):
    client = client_for(outsider)
    assert client.get(f"/snapshots/{snapshot.public_id}/").status_code == 404
    assert client.get(f"/snapshots/{snapshot.public_id}/download/").status_code == 404
    assert client.post(f"/snapshots/{snapshot.public_id}/delete/").status_code == 404
    assert client.post(f"/snapshots/{snapshot.public_id}/restore/", {"environment": env.public_id}).status_code == 404
    assert client.get(f"/environments/{env.public_id}/snapshots/").status_code == 404
    assert Snapshot.objects.get(pk=snapshot.pk).state == SnapshotState.READY


def test_pages_require_sign_in(client_for, snapshot):
    response = client_for().get(f"/snapshots/{snapshot.public_id}/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_buttons_only_for_roles_allowed(client_for, owner, viewer, snapshot):
    owner_page = _page(client_for(owner).get(f"/snapshots/{snapshot.public_id}/"))
    assert 'data-action="restore"' in owner_page and 'data-action="download"' in owner_page
    assert 'data-action="delete"' in owner_page
    viewer_page = _page(client_for(viewer).get(f"/snapshots/{snapshot.public_id}/"))
    for action in ("restore", "download", "delete"):
        assert f'data-action="{action}"' not in viewer_page


def test_a_deleted_snapshot_offers_nothing(client_for, owner, env, make_snapshot):
    gone = make_snapshot(env, state=SnapshotState.DELETED)
    page = _page(client_for(owner).get(f"/snapshots/{gone.public_id}/"))
    for action in ("restore", "download", "delete"):
        assert f'data-action="{action}"' not in page


def test_owner_restores_from_the_page(client_for, owner, snapshot, env, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).post(
            f"/snapshots/{snapshot.public_id}/restore/", {"environment": env.public_id, "service": "db"}
        )
    assert response.status_code == 302 and response["Location"] == f"/snapshots/{snapshot.public_id}/"
    assert SnapshotRestore.objects.filter(snapshot=snapshot, environment=env, service="db").exists()


def test_restore_with_htmx_returns_the_fragment_with_the_outcome(
    client_for, owner, snapshot, env, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).post(
            f"/snapshots/{snapshot.public_id}/restore/", {"environment": env.public_id}, HTTP_HX_REQUEST="true"
        )
    page = _page(response)
    assert response.status_code == 200 and "<html" not in page
    assert 'data-outcome="ok"' in page and 'id="snapshot-detail"' in page


def test_a_bad_restore_target_shows_an_error_and_changes_nothing(client_for, owner, snapshot, other_env, no_trace):
    client = client_for(owner)
    with no_trace():
        response = client.post(f"/snapshots/{snapshot.public_id}/restore/", {"environment": other_env.public_id})
    assert response.status_code == 400
    assert 'class="outcome error"' in _page(response)
    with no_trace():
        response = client.post(f"/snapshots/{snapshot.public_id}/restore/", {})
    assert response.status_code == 400 and "required" in _page(response)


def test_a_viewer_posting_restore_or_delete_is_refused_without_trace(client_for, viewer, snapshot, env, no_trace):
    client = client_for(viewer)
    client.get("/")
    with no_trace(refused=2):
        restore = client.post(f"/snapshots/{snapshot.public_id}/restore/", {"environment": env.public_id})
        delete = client.post(f"/snapshots/{snapshot.public_id}/delete/", HTTP_HX_REQUEST="true")
    assert restore.status_code == 400 and 'data-outcome="PERMISSION_DENIED"' in _page(restore)
    assert delete.status_code == 200 and 'data-outcome="PERMISSION_DENIED"' in _page(delete)


def test_owner_deletes_from_the_page(client_for, owner, snapshot):
    response = client_for(owner).post(f"/snapshots/{snapshot.public_id}/delete/")
    assert response.status_code == 302
    assert Snapshot.objects.get(pk=snapshot.pk).state == SnapshotState.DELETED


def test_owner_downloads_the_artifact(client_for, owner, snapshot):
    response = client_for(owner).get(f"/snapshots/{snapshot.public_id}/download/")
    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body == ARTIFACT


def test_a_viewer_cannot_download(client_for, viewer, snapshot):
    response = client_for(viewer).get(f"/snapshots/{snapshot.public_id}/download/")
    assert response.status_code == 403


@pytest.mark.parametrize("path", ["restore/", "delete/"])
def test_posts_need_the_csrf_token(owner, snapshot, env, path, no_trace):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    with no_trace():
        response = client.post(f"/snapshots/{snapshot.public_id}/{path}", {"environment": env.public_id})
    assert response.status_code == 403


def test_lineage_picture_escapes_names_and_hides_other_teams_targets(snapshot, env, other_env, outsider):
    env.name = "<script>x</script>"
    restore = SnapshotRestore(
        snapshot=snapshot, environment=other_env, service="db", state="running", requested_by=outsider
    )
    restore.created_at = snapshot.created_at
    svg = lineage_picture(snapshot, [restore], frozenset({env.team_id}))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    svg = lineage_picture(snapshot, [restore], frozenset({other_env.team_id}))
    assert other_env.name in svg
    outsider_view = lineage_picture(snapshot, [restore], frozenset())
    assert other_env.name not in outsider_view and "another team" in outsider_view


# --- policies -----------------------------------------------------------------------------------


def test_the_policies_page_lists_versions(client_for, owner, viewer, policy):
    for user in (owner, viewer):
        page = _page(client_for(user).get("/snapshots/policies/"))
        assert policy.public_id in page and "v1" in page and "latest" in page
        assert "keepLast: 2" in page and "0123456789abcdef" not in page  # never the salt
    assert 'aria-label="Publish a policy"' in _page(client_for(owner).get("/snapshots/policies/"))
    assert 'aria-label="Publish a policy"' not in _page(client_for(viewer).get("/snapshots/policies/"))


def test_owner_publishes_a_policy_from_yaml(client_for, owner, team):
    response = client_for(owner).post("/snapshots/policies/", {"name": "shop-dev", "yaml": POLICY, "intent": "publish"})
    assert response.status_code == 302
    assert SanitizationPolicy.objects.get(team=team).version == 1


def test_a_bad_policy_shows_located_errors_next_to_the_textarea_and_publishes_nothing(
    client_for, owner, team, no_trace
):
    client = client_for(owner)
    client.get("/")
    with no_trace():
        response = client.post("/snapshots/policies/", {"name": "shop-dev", "yaml": BAD_POLICY, "intent": "publish"})
    page = _page(response)
    assert response.status_code == 400
    assert 'data-line="4"' in page and 'data-line="5"' in page and "MSX-S002" in page
    assert page.index('id="id_yaml"') < page.index('data-line="4"')  # next to the textarea
    assert "keepLst" in page  # the posted text is kept in the textarea


def test_validate_checks_without_publishing(client_for, owner, team, no_trace):
    client = client_for(owner)
    client.get("/")
    with no_trace():
        plain = client.post("/snapshots/policies/", {"name": "shop-dev", "yaml": POLICY, "intent": "validate"})
        fragment = client.post("/snapshots/policies/validate/", {"yaml": BAD_POLICY})
    assert plain.status_code == 200 and 'data-valid="true"' in _page(plain)
    assert fragment.status_code == 200 and "<html" not in _page(fragment)
    assert 'data-valid="false"' in _page(fragment) and 'data-code="MSX-S003"' in _page(fragment)


def test_a_viewer_cannot_publish(client_for, viewer, team, no_trace):
    client = client_for(viewer)
    client.get("/")
    with no_trace():
        response = client.post("/snapshots/policies/", {"name": "shop-dev", "yaml": POLICY, "intent": "publish"})
    assert response.status_code == 400 and 'data-code="PERMISSION_DENIED"' in _page(response)


# --- the environment page -----------------------------------------------------------------------


def test_the_environment_page_has_a_snapshots_section(client_for, owner, viewer, env, snapshot):
    page = _page(client_for(owner).get(f"/environments/{env.public_id}/"))
    assert 'id="env-snapshots"' in page and snapshot.public_id in page
    assert 'aria-label="Take a snapshot"' in page and "csrfmiddlewaretoken" in page
    viewer_page = _page(client_for(viewer).get(f"/environments/{env.public_id}/"))
    assert snapshot.public_id in viewer_page and 'aria-label="Take a snapshot"' not in viewer_page


def test_owner_takes_a_snapshot_from_the_environment_page(
    client_for, owner, env, policy, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).post(
            f"/environments/{env.public_id}/snapshots/",
            {"service": "db", "policy": policy.public_id},
            HTTP_HX_REQUEST="true",
        )
    page = _page(response)
    snapshot = Snapshot.objects.get()
    assert response.status_code == 200 and 'data-outcome="ok"' in page and snapshot.public_id in page
    assert (snapshot.service, snapshot.policy) == ("db", policy)


def test_taking_a_snapshot_with_bad_input_changes_nothing(client_for, owner, viewer, env, no_trace):
    client = client_for(owner)
    client.get("/")
    with no_trace():
        bad_policy = client.post(
            f"/environments/{env.public_id}/snapshots/", {"policy": "pol_nope"}, HTTP_HX_REQUEST="true"
        )
        bad_service = client.post(
            f"/environments/{env.public_id}/snapshots/", {"service": "no-such"}, HTTP_HX_REQUEST="true"
        )
    assert 'class="outcome error"' in _page(bad_policy) and 'class="outcome error"' in _page(bad_service)
    viewer_client = client_for(viewer)
    viewer_client.get("/")
    with no_trace():
        refused = viewer_client.post(f"/environments/{env.public_id}/snapshots/", {"service": "db"})
    assert refused.status_code == 302  # back to the page, with the error as a message


def test_a_raw_snapshot_offers_download_and_restore_to_owners_only(client_for, owner, developer, env, make_snapshot):
    raw = make_snapshot(env, sanitized=False)
    owner_page = _page(client_for(owner).get(f"/snapshots/{raw.public_id}/"))
    assert 'data-action="download"' in owner_page and 'data-action="restore"' in owner_page
    assert "raw</span>" in owner_page
    developer_page = _page(client_for(developer).get(f"/snapshots/{raw.public_id}/"))
    assert 'data-action="download"' not in developer_page and 'data-action="restore"' not in developer_page
    assert client_for(developer).get(f"/snapshots/{raw.public_id}/download/").status_code == 403


def test_a_developer_downloads_a_sanitized_snapshot_but_cannot_delete_it(client_for, developer, snapshot):
    page = _page(client_for(developer).get(f"/snapshots/{snapshot.public_id}/"))
    assert 'data-action="download"' in page and 'data-action="delete"' not in page
    assert client_for(developer).get(f"/snapshots/{snapshot.public_id}/download/").status_code == 200


def _queries(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert call().status_code == 200
    return len(captured)


def test_the_detail_and_policies_pages_run_a_constant_number_of_queries(client_for, owner, team, snapshot, env, policy):
    client = client_for(owner)
    detail = lambda: client.get(f"/snapshots/{snapshot.public_id}/")  # noqa: E731
    policies = lambda: client.get("/snapshots/policies/")  # noqa: E731
    detail(), policies()
    before = (_queries(detail), _queries(policies))
    for number in range(2, 5):
        SnapshotRestore.objects.create(snapshot=snapshot, environment=env, service="db", requested_by=owner)
        SanitizationPolicy.objects.create(
            team=team, name="shop-dev", version=number, source=POLICY, content_hash=str(number), created_by=owner
        )
    assert (_queries(detail), _queries(policies)) == before


def test_the_environment_section_is_a_fragment_members_can_poll(client_for, viewer, env, snapshot):
    response = client_for(viewer).get(f"/environments/{env.public_id}/snapshots/")
    page = _page(response)
    assert response.status_code == 200 and "<html" not in page
    assert 'id="env-snapshots"' in page and snapshot.public_id in page


def test_taking_a_snapshot_without_htmx_redirects_to_the_environment(
    client_for, owner, env, django_capture_on_commit_callbacks
):
    client = client_for(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/environments/{env.public_id}/snapshots/", {"service": "db"})
    assert response.status_code == 302 and response["Location"] == f"/environments/{env.public_id}/"
    snapshot = Snapshot.objects.get()
    assert snapshot.public_id in _page(client.get(response["Location"]))
