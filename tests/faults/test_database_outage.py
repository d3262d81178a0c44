"""The database goes away under a running portal: 503 with Retry-After (never a 500 or a traceback), answered
within the connect timeout also when the server stops answering, and service again once it is back, with
no process restarted."""

from tests.waiting import scaled

CONNECT_TIMEOUT_SECONDS = 2  # psycopg's floor; the settings' default
# A request's own work, on an idle machine; stretched by the load (the connect timeout is a wait, not work).
REQUEST_SECONDS = 1.0


def _assert_unavailable_api(answer, within: float) -> None:
    assert answer.status == 503, answer.body[:500]
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json()["error"]["code"] == "database_unavailable"
    assert int(answer.headers["Retry-After"]) > 0
    assert answer.seconds < within, answer.seconds


def test_database_stopped_answers_503_then_serves_again_without_restarts(portal, postgres_cluster):
    # given the portal serving pages and the API from its database, one server with DEBUG on
    web = portal.web(portal.env())
    debug_web = portal.web(portal.env(DEBUG="1"), name="web-debug")
    assert web.get("/api/v1/me/").json()["email"] == portal.database.user_email
    assert web.get("/queue/").status == 200
    assert debug_web.get("/api/v1/me/").status == 200
    pids = (web.process.process.pid, debug_web.process.process.pid)

    # when the database server stops
    postgres_cluster.stop()
    try:
        # then the API answers 503 in its error format at once (a refused connection), DEBUG or not
        _assert_unavailable_api(web.get("/api/v1/me/"), within=scaled(1.5))
        debug_answer = debug_web.get("/api/v1/me/")
        _assert_unavailable_api(debug_answer, within=scaled(1.5))
        assert b"Traceback" not in debug_answer.body
        # and pages answer a short 503 page, no traceback and nothing cached
        for server in (web, debug_web):
            page = server.get("/queue/")
            assert page.status == 503
            assert page.headers["Content-Type"].startswith("text/html")
            assert "no-store" in page.headers["Cache-Control"]
            assert b"right back" in page.body
            assert b"Traceback" not in page.body
            assert "Retry-After" in page.headers
    finally:
        postgres_cluster.start()

    # then, once it is back, the same processes serve again (stale connections replaced, no restart)
    assert web.get("/api/v1/me/").json()["email"] == portal.database.user_email
    assert web.get("/queue/").status == 200
    assert debug_web.get("/api/v1/me/").status == 200
    assert (web.process.process.pid, debug_web.process.process.pid) == pids
    assert web.process.alive()
    assert debug_web.process.alive()


def test_database_that_stops_answering_gets_a_503_within_the_connect_timeout(portal, postgres_cluster):
    # given a portal opening a connection per request (so no pooled connection hides the hang)
    web = portal.web(portal.env(CONN_MAX_AGE="0"))
    assert web.get("/api/v1/me/").status == 200

    # when the server stops answering: connections are accepted by the kernel, and nothing more
    postgres_cluster.pause()
    try:
        # then the API and pages answer 503 once the connect timeout is up, not after a minute or never
        _assert_unavailable_api(web.get("/api/v1/me/"), within=CONNECT_TIMEOUT_SECONDS + scaled(REQUEST_SECONDS))
        page = web.get("/queue/")
        assert page.status == 503
        assert page.seconds < CONNECT_TIMEOUT_SECONDS + scaled(REQUEST_SECONDS)
    finally:
        postgres_cluster.resume()

    # and it serves again as soon as the server answers
    assert web.get("/api/v1/me/").status == 200
