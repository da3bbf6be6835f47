"""/docs: Swagger UI served from files in the package, so it works offline and runs no third-party
script; a real browser with every request off this server blocked draws the API's title."""

from tests.browser import browser  # noqa: F401  (fixture)


def test_the_docs_page_loads_swagger_ui_from_this_server(client):
    page = client.get("/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/r/assets/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert "https://" not in html
    for name in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        asset = client.get(f"/r/assets/vendor/swagger-ui/{name}")
        asset.close()  # a file streamed from the package
        assert asset.status_code == 200


def test_the_docs_render_in_a_browser_that_may_reach_nothing_but_this_server(live_server, browser):  # noqa: F811
    elsewhere = []
    page = browser.new_page()

    def only_this_server(route):
        if route.request.url.startswith(live_server):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(f"{live_server}/docs")
    title = page.wait_for_selector(".swagger-ui .info .title", timeout=20_000)
    assert "Careloop API" in title.inner_text()
    assert elsewhere == []
