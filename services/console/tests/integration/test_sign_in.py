"""Sign-in, sessions, sign-out, CSRF, the throttle and the pages' security headers."""

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from folio.console.adapters.tables import sessions
from folio.console.domain.users import Role
from folio.console.testing import PASSWORD, console_client, csrf_of, sign_in

pytestmark = pytest.mark.integration


async def test_signing_in_opens_a_server_side_session_in_a_strict_cookie(
    console_app, make_user, uow_factory
):
    user = await make_user(Role.FINANCE)
    async with console_client(console_app) as client:
        response = await sign_in(client, user.email.upper(), PASSWORD)
        assert response.status_code == 303
        assert response.headers["location"] == "/admin/payments"
        cookie = next(
            c for c in response.headers.get_list("set-cookie") if c.startswith("folio_session=")
        )
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert "Secure" not in cookie  # test environment; production sets it
        token = client.cookies["folio_session"]
        page = await client.get("/admin/payments")
        assert page.status_code == 200 and user.email in page.text
    async with uow_factory() as uow:
        stored = await uow.session.execute(
            sa.select(sessions.c.token_hash).where(sessions.c.user_id == user.id)
        )
        hashes = stored.scalars().all()
    assert len(hashes) == 1 and token not in hashes  # only the cookie's hash is kept


async def test_without_a_session_pages_send_you_to_sign_in(console_app):
    async with console_client(console_app) as client:
        response = await client.get("/admin/payments?status=DUE")
        assert response.status_code == 303
        assert response.headers["location"] == "/sign-in?next=%2Fadmin%2Fpayments%3Fstatus%3DDUE"
        forged = await client.post("/admin/payments/x/status", data={"status": "VOID"})
        assert forged.status_code == 401


async def test_a_wrong_password_an_unknown_e_mail_and_a_disabled_user_get_one_answer(
    console_app, make_user, uow_factory
):
    from folio.console.service import accounts

    user = await make_user(Role.VIEWER)
    disabled = await make_user(Role.VIEWER)
    await accounts.update_user(uow_factory, "test", disabled.id, enabled=False)
    answers = []
    async with console_client(console_app) as client:
        for email, password in (
            (user.email, "wrong password 1"),
            ("nobody-here@example.com", PASSWORD),
            (disabled.email, PASSWORD),
        ):
            response = await sign_in(client, email, password)
            assert response.status_code == 401
            answers.append(re.search(r'id="sign-in-error">([^<]+)<', response.text).group(1))
            assert "folio_session" not in client.cookies
    assert len(set(answers)) == 1


async def test_the_tenth_attempt_is_refused_with_429_even_with_the_right_password(
    console_app, make_user
):
    user = await make_user(Role.VIEWER)
    async with console_client(console_app) as client:
        for attempt in range(9):
            response = await sign_in(client, user.email, f"wrong password {attempt}")
            assert response.status_code == 401, attempt
        refused = await sign_in(client, user.email, PASSWORD)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
        assert "folio_session" not in client.cookies
    # From another address the e-mail stays locked: the count is per e-mail too.
    async with console_client(console_app) as other:
        assert (await sign_in(other, user.email, PASSWORD)).status_code == 429


async def test_a_success_clears_the_e_mails_failures(console_app, make_user):
    user = await make_user(Role.VIEWER)
    async with console_client(console_app) as client:
        for attempt in range(8):
            await sign_in(client, user.email, f"wrong password {attempt}")
        assert (await sign_in(client, user.email, PASSWORD)).status_code == 303
    async with console_client(console_app) as client:
        for attempt in range(8):
            assert (await sign_in(client, user.email, f"wrong {attempt} again")).status_code == 401


async def test_a_sign_in_post_without_its_form_token_is_refused(console_app, make_user):
    user = await make_user(Role.ADMIN)
    async with console_client(console_app) as client:
        await client.get("/sign-in")
        response = await client.post(
            "/sign-in", data={"email": user.email, "password": PASSWORD, "sign_in_token": "x"}
        )
        assert response.status_code == 403 and "folio_session" not in client.cookies


async def test_sign_out_ends_the_session_on_the_server(console_app, make_user):
    user = await make_user(Role.FINANCE)
    async with console_client(console_app) as client:
        await sign_in(client, user.email, PASSWORD)
        token = client.cookies["folio_session"]
        csrf = csrf_of((await client.get("/admin/payments")).text)
        out = await client.post("/sign-out", data={"csrf_token": csrf})
        assert out.status_code == 303 and out.headers["location"] == "/sign-in"
    async with console_client(console_app) as replay:  # the old cookie, replayed
        replay.cookies.set("folio_session", token)
        assert (await replay.get("/admin/payments")).status_code == 303


async def test_a_post_without_the_sessions_csrf_token_is_refused(console_app, make_user):
    user = await make_user(Role.FINANCE)
    async with console_client(console_app) as client:
        await sign_in(client, user.email, PASSWORD)
        for data in ({}, {"csrf_token": "not-the-token"}):
            refused = await client.post("/sign-out", data=data)
            assert refused.status_code == 403
        assert (await client.get("/admin/payments")).status_code == 200  # still signed in
        csrf = csrf_of((await client.get("/admin/payments")).text)
        by_header = await client.post("/sign-out", headers={"X-CSRF-Token": csrf})
        assert by_header.status_code == 303


@pytest.mark.parametrize("column", ["last_seen_at", "expires_at"])
async def test_an_idle_or_too_old_session_is_over(console_app, make_user, uow_factory, column):
    user = await make_user(Role.VIEWER)
    async with console_client(console_app) as client:
        await sign_in(client, user.email, PASSWORD)
        assert (await client.get("/admin/payments")).status_code == 200
        shift = timedelta(minutes=31) if column == "last_seen_at" else timedelta(hours=13)
        async with uow_factory() as uow:
            await uow.session.execute(
                sa.update(sessions)
                .where(sessions.c.user_id == user.id)
                .values({column: getattr(sessions.c, column) - shift})
            )
            await uow.commit()
        assert (await client.get("/admin/payments")).status_code == 303


async def test_pages_carry_their_own_csp_and_no_inline_script(console_app, make_user):
    user = await make_user(Role.ADMIN)
    async with console_client(console_app) as client:
        pages = [await client.get("/sign-in")]
        await sign_in(client, user.email, PASSWORD)
        pages += [await client.get("/admin/payments"), await client.get("/admin/users")]
        for page in pages:
            csp = page.headers.get_list("content-security-policy")
            assert len(csp) == 1 and "script-src 'self'" in csp[0]
            assert "unsafe-inline" not in csp[0] and "frame-ancestors 'none'" in csp[0]
            assert page.headers["x-frame-options"] == "DENY"
            assert page.headers["x-content-type-options"] == "nosniff"
            assert page.headers["referrer-policy"] == "no-referrer"
            assert page.headers["cache-control"] == "no-store"
            scripts = re.findall(r"<script[^>]*>", page.text)
            assert scripts and all(" src=" in s for s in scripts)
            assert not re.search(r"<script[^>]*>[^<]+</script>", page.text)
            assert not re.search(r"\son[a-z]+=", page.text)  # no inline event handler
            assert "style=" not in page.text
        assert (await client.get("/static/vendor/htmx.min.js")).status_code == 200
        assert (await client.get("/static/console/console.js")).status_code == 200


async def test_ops_routes_answer_under_api_console(console_app):
    async with console_client(console_app) as client:
        assert (await client.get("/api/console/healthz")).json() == {"status": "ok"}
        ready = await client.get("/api/console/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {"database": "ok"}
        assert (await client.get("/api/console/metrics")).status_code == 200


async def test_failures_older_than_the_window_are_forgotten(console_app, make_user, uow_factory):
    from folio.console.adapters.tables import sign_in_failures
    from folio.console.domain.throttle import email_key

    user = await make_user(Role.VIEWER)
    key = email_key(user.email)
    async with uow_factory() as uow:
        now = await uow.now()
        await uow.throttle.record_failure([key] * 9, now - timedelta(hours=1))
        await uow.commit()
    async with console_client(console_app) as client:
        # nine old failures do not count: this is a plain refusal, not a 429 ...
        assert (await sign_in(client, user.email, "wrong password")).status_code == 401
    async with uow_factory() as uow:
        kept = await uow.session.execute(
            sa.select(sa.func.count()).where(sign_in_failures.c.throttle_key == key)
        )
        assert kept.scalar_one() == 1  # ... and they were deleted with it
