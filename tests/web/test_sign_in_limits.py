"""The sign-in rate limit: what someone guessing passwords (or a rep who forgot theirs) sees."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from server import create_app
from server.models import SignInFailure

from .conftest import PASSWORD, csrf_of

LOCKED = "Too many sign-in attempts; try again in"


def attempt(client, email: str, password: str, *, ip: str = "127.0.0.1"):
    page = client.get("/login", environ_base={"REMOTE_ADDR": ip})
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_of(page.text)},
                       environ_base={"REMOTE_ADDR": ip})


def fail(client, email: str, times: int, *, ip: str = "127.0.0.1") -> None:
    for _ in range(times):
        response = attempt(client, email, "wrong password", ip=ip)
        assert response.status_code == 401 and "Wrong email or password" in response.text


def test_five_failures_lock_the_account_even_for_the_right_password_until_the_window_ends(
        app, rep, set_password, clock):
    set_password(rep.user_id)
    client = app.test_client()
    fail(client, "rep@example.com", 3)
    fail(client, " REP@Example.com", 2)  # the same account, however it is typed
    response = attempt(client, "rep@example.com", PASSWORD)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "900"
    assert f"{LOCKED} 15 minutes." in response.text and 'value="rep@example.com"' in response.text
    assert client.get("/").status_code == 302  # not signed in

    clock.advance(minutes=14)
    response = attempt(client, "rep@example.com", PASSWORD)  # trying while locked does not extend the lock
    assert response.status_code == 429 and response.headers["Retry-After"] == "60"
    assert f"{LOCKED} 1 minute." in response.text

    clock.advance(minutes=1)
    assert attempt(client, "rep@example.com", PASSWORD).status_code == 302
    assert client.get("/").status_code == 200


def test_the_window_slides_so_old_failures_stop_counting(app, rep, set_password, clock):
    set_password(rep.user_id)
    client = app.test_client()
    fail(client, "rep@example.com", 2)
    clock.advance(minutes=10)
    fail(client, "rep@example.com", 3)
    response = attempt(client, "rep@example.com", PASSWORD)
    assert response.status_code == 429 and response.headers["Retry-After"] == "300"  # the first two age out
    clock.advance(minutes=5)
    assert attempt(client, "rep@example.com", PASSWORD).status_code == 302


def test_a_successful_sign_in_clears_the_accounts_failures(app, rep, set_password):
    set_password(rep.user_id)
    fail(app.test_client(), "rep@example.com", 4)
    assert attempt(app.test_client(), "rep@example.com", PASSWORD).status_code == 302
    client = app.test_client()
    fail(client, "rep@example.com", 4)  # 8 failures in the window, but only 4 since the success
    assert attempt(client, "rep@example.com", PASSWORD).status_code == 302


def test_an_unknown_email_is_limited_too_and_looks_exactly_like_a_real_account(app, rep, set_password):
    set_password(rep.user_id)
    client = app.test_client()
    fail(client, "nobody@example.com", 5)
    fail(client, "rep@example.com", 5)
    unknown = attempt(client, "nobody@example.com", "anything at all")
    known = attempt(client, "rep@example.com", PASSWORD)
    assert unknown.status_code == known.status_code == 429
    assert unknown.headers["Retry-After"] == known.headers["Retry-After"] == "900"
    assert unknown.text.replace("nobody@", "rep@") == known.text.replace(csrf_of(known.text), csrf_of(unknown.text))


def test_an_unknown_email_takes_as_long_as_a_wrong_password(app, rep, set_password):
    """The password hash runs for unknown emails too, so timing does not reveal who has an account."""
    set_password(rep.user_id)
    client = app.test_client()

    def fastest(email: str) -> float:
        times = []
        for _ in range(3):
            page = client.get("/login")
            started = time.perf_counter()
            response = client.post("/login", data={"email": email, "password": "wrong password",
                                                   "csrf_token": csrf_of(page.text)})
            times.append(time.perf_counter() - started)
            assert response.status_code == 401
        return min(times)

    known, unknown = fastest("rep@example.com"), fastest("nobody@example.com")
    assert unknown > known / 3, (known, unknown)


def test_one_ip_failing_across_many_emails_is_limited_but_other_ips_are_not(app, rep, set_password):
    app.config["SIGNIN_IP_MAX_FAILURES"] = 6  # configurable; the default is 20
    set_password(rep.user_id)
    client = app.test_client()
    for n in range(3):
        fail(client, f"guess{n}@example.com", 2, ip="203.0.113.9")
    response = attempt(client, "rep@example.com", PASSWORD, ip="203.0.113.9")
    assert response.status_code == 429 and f"{LOCKED} 15 minutes." in response.text
    assert attempt(client, "rep@example.com", PASSWORD, ip="198.51.100.7").status_code == 302


def test_behind_a_trusted_proxy_the_limit_counts_the_forwarded_client_ip(database_url, clock, rep, set_password):
    """Behind nginx every request comes from the proxy: without TRUSTED_PROXIES one guesser
    would lock everyone out; with it, each client is counted on its own."""
    set_password(rep.user_id)
    proxied = create_app({"DATABASE_URL": database_url, "TESTING": True, "SECRET_KEY": "test-secret",
                          "PUBLIC_BASE_URL": "http://localhost", "TRUSTED_PROXIES": 1,
                          "SIGNIN_IP_MAX_FAILURES": 4}, clock=clock)
    try:
        client = proxied.test_client()

        def through_proxy(email: str, password: str, client_ip: str):
            page = client.get("/login", environ_base={"REMOTE_ADDR": "10.0.0.2"},
                              headers={"X-Forwarded-For": client_ip})
            return client.post("/login", data={"email": email, "password": password,
                                               "csrf_token": csrf_of(page.text)},
                               environ_base={"REMOTE_ADDR": "10.0.0.2"}, headers={"X-Forwarded-For": client_ip})

        for n in range(4):
            assert through_proxy(f"guess{n}@example.com", "wrong password", "203.0.113.9").status_code == 401
        assert through_proxy("rep@example.com", PASSWORD, "203.0.113.9").status_code == 429
        assert through_proxy("rep@example.com", PASSWORD, "198.51.100.7").status_code == 302
    finally:
        proxied.extensions["stepline_engine"].dispose()


def test_the_lock_is_shared_by_every_app_process_on_the_database(app, database_url, clock, rep, set_password):
    set_password(rep.user_id)
    other = create_app({"DATABASE_URL": database_url, "TESTING": True, "SECRET_KEY": "test-secret",
                        "PUBLIC_BASE_URL": "http://localhost"}, clock=clock)
    try:
        fail(app.test_client(), "rep@example.com", 3)
        fail(other.test_client(), "rep@example.com", 2)
        for instance in (app, other):
            response = attempt(instance.test_client(), "rep@example.com", PASSWORD)
            assert response.status_code == 429 and response.headers["Retry-After"] == "900"
    finally:
        other.extensions["stepline_engine"].dispose()


def test_guesses_sent_all_at_once_still_get_only_five_password_checks(app, rep, set_password):
    """Each request reserves its row before counting, so parallel requests cannot all slip under the limit."""
    set_password(rep.user_id)

    def guess(_: int) -> int:
        return attempt(app.test_client(), "rep@example.com", "wrong password").status_code

    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(guess, range(24)))
    assert codes.count(401) <= 5 and codes.count(401) + codes.count(429) == 24


def test_failures_older_than_the_window_are_deleted(app, db_session, clock):
    fail(app.test_client(), "someone@example.com", 3)
    clock.advance(minutes=16)
    fail(app.test_client(), "someone@example.com", 1)
    # One row per key (account and IP) for the one recent failure; the three old ones are gone.
    assert db_session.scalar(select(func.count()).select_from(SignInFailure)) == 2
